"""``python -m builders build-dataset ...`` runs the same commands as the console scripts."""

import click

from .cli import CONTEXT, build_dataset, mix_dataset, publish_dataset


@click.group(context_settings=CONTEXT)
def main():
    """Build and publish the multitask safety dataset."""


main.add_command(build_dataset, "build-dataset")
main.add_command(publish_dataset, "publish-dataset")
main.add_command(mix_dataset, "mix-dataset")

if __name__ == "__main__":
    main()
