"""How a model answers: an Engine takes an image's requests and yields the answers.

base.py is the Engine interface and its request/answer types; vllm.py runs the model in
this process through vLLM, openai.py talks to OpenAI-compatible servers (servers.py keeps
their rotation and failover); model_source.py and model_specs.py say where a model is and
what it is without loading it; output.py keeps vLLM's and torch's output off the
terminal; tiny_model.py builds the tiny random-weight LLaVA-NeXT of the demo and tests.
Imports ``inputs`` at most.
"""
