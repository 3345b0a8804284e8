"""One OpenAI-compatible client for everything that asks a model: synthesis and evaluation.

    from builders.llm import LLMConfig, Request, Client

    client = Client(LLMConfig(model="m", base_url="http://127.0.0.1:8000/v1"))
    results = client.run([Request(({"role": "user", "content": "Hi"},), "demo@v1")])
"""

from .client import Client
from .types import FAILURE_CLASSES, LLMConfig, Request, Result

__all__ = ["FAILURE_CLASSES", "Client", "LLMConfig", "Request", "Result"]
