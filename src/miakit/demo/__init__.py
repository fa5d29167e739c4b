"""The embedded default: ``miakit demo`` on SmolLM2 and Wikipedia leads."""

from miakit.demo.finetune import FinetuneSettings, finetune_causal_lm
from miakit.demo.run import DemoSettings, run_demo

__all__ = ["DemoSettings", "FinetuneSettings", "finetune_causal_lm", "run_demo"]
