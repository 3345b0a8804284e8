"""``python -m builders build-dataset ...`` runs the same commands as the console scripts."""

import click

from .cli import CONTEXT, build_dataset, evaluate_dataset, mix_dataset, publish_dataset


@click.group(context_settings=CONTEXT)
def main():
    """Build, publish, evaluate and mix the multitask safety dataset."""


main.add_command(build_dataset, "build-dataset")
main.add_command(publish_dataset, "publish-dataset")
main.add_command(evaluate_dataset, "evaluate-dataset")
main.add_command(mix_dataset, "mix-dataset")

if __name__ == "__main__":
    main()
