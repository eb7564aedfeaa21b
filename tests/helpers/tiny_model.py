"""A tiny random Llama with the packaged tokenizer, for tests that need a model but not its wits.

Widths are divisible by 32, as bitsandbytes 4-bit on CPU needs.
"""

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from tutor.runtime.packaged import convert_packaged
from tutor.settings import load_settings


def tiny_llama() -> tuple[LlamaForCausalLM, AutoTokenizer]:
    tokenizer = AutoTokenizer.from_pretrained(convert_packaged(load_settings().cache_dir))
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tokenizer
