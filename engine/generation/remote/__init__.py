"""The remote backend: generation on OpenAI-compatible servers (vLLM, llama.cpp's server,
TGI, ``transformers serve``) behind spren's fair queue.

- ``engine``: ``RemoteEngine``, the ``GenerationEngine`` over every configured server
- ``streaming``: one passage streamed from one server, tidied and stopped like the local one
- ``protocol``: request bodies (dialects), the event stream, failure classes
- ``servers``: each server's health, load and speed; least-loaded choice; backoff
- ``health``: probing servers when they are first seen and while they are down
"""

from engine.generation.remote.engine import RemoteEngine

__all__ = ["RemoteEngine"]
