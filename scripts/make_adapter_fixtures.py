#!/usr/bin/env python3
"""Generate the PEFT reference fixtures under tests/fixtures/adapters/ (issue: adapters).

Both directions of PEFT compatibility, on the tiny qwen2 fixture (tests/fixtures/qwen2):

* peft_lora/    - a LoRA adapter made by PEFT (r 4, alpha 8, q/k/v/o + mlp.down_proj,
                  init_lora_weights=False so B is not zero) and saved with save_pretrained.
* peft_rslora/  - PEFT, rsLoRA (alpha / sqrt(r)), r 2, alpha 6, target_modules given as a regex
                  string selecting layer 1's q_proj and v_proj only.
* recfound_lora/- an adapter saved by recfound (`recfound adapter init ... --init-lora-weights
                  false`), loaded here with PeftModel.from_pretrained. The script checks that PEFT
                  loads every tensor (its LoRA parameters equal the file's, none left at their
                  init) and writes peft_check.json.

For each directory the script writes expected.safetensors (`logits` [2, 12, V] with the adapter,
`merged_logits` after merge_and_unload) and expected.json (input ids, greedy ids). Everything is
computed from the adapter as loaded back from disk by PEFT.

    HF_HUB_OFFLINE=1 python scripts/make_adapter_fixtures.py [--recfound target/debug/recfound]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import manual_greedy as greedy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "tests" / "fixtures" / "qwen2"
OUT = REPO / "tests" / "fixtures" / "adapters"
SEQ_LEN, GREEDY_NEW, FIRST_NORMAL_ID = 12, 16, 3

torch.use_deterministic_algorithms(True)


def load_base():
    model = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32, attn_implementation="eager").eval()
    model.generation_config.eos_token_id = None
    return model


def expected_for(adapter_dir: Path, seed: int) -> dict:
    """Loads base + adapter with PEFT and writes the expected outputs beside the adapter."""
    model = PeftModel.from_pretrained(load_base(), adapter_dir).eval()
    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size
    input_ids = rng.integers(FIRST_NORMAL_ID, vocab, size=(2, SEQ_LEN)).tolist()
    prompt = input_ids[0][:5]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(input_ids)).logits.float().contiguous()
    ids = greedy(model, prompt, GREEDY_NEW)
    with model.disable_adapter(), torch.no_grad():
        plain = model(input_ids=torch.tensor(input_ids)).logits
    assert (plain - logits).abs().max() > 1e-3, "the adapter changes nothing: B is zero?"
    merged = model.merge_and_unload().eval()
    with torch.no_grad():
        merged_logits = merged(input_ids=torch.tensor(input_ids)).logits.float().contiguous()
    assert (merged_logits - logits).abs().max() < 1e-4
    save_file({"logits": logits, "merged_logits": merged_logits}, str(adapter_dir / "expected.safetensors"))
    expected = {
        "peft": peft.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "input_ids": input_ids,
        "prompt": prompt,
        "greedy": ids,
    }
    (adapter_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    return expected


def make_peft(name: str, config: LoraConfig, seed: int) -> None:
    out = OUT / name
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(seed)
    model = get_peft_model(load_base(), config)
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # PEFT's model card template: not needed
    expected_for(out, seed)
    print(f"[{name}] ok")


def make_recfound(binary: Path, seed: int) -> None:
    out = OUT / "recfound_lora"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [str(binary), "adapter", "init", "--model", str(BASE), "--backend", "ndarray", "--r", "4", "--lora-alpha", "16",
         "--target-modules", "q_proj,v_proj,up_proj", "--init-lora-weights", "false", "--seed", "7", "--out", str(out)],
        check=True,
    )
    # recfound writes the base's local path; PEFT would try to resolve it later, so keep it portable.
    cfg = json.loads((out / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = None
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2) + "\n")

    model = PeftModel.from_pretrained(load_base(), out)
    saved = load_file(str(out / "adapter_model.safetensors"))
    params = {k: v for k, v in model.named_parameters() if "lora_" in k}
    assert len(params) == len(saved), (len(params), len(saved))
    for key, tensor in saved.items():
        live = key.replace(".weight", ".default.weight")
        assert live in params, f"PEFT has no parameter for {key}"
        assert torch.equal(params[live].detach(), tensor), f"PEFT loaded {key} with other values"
    check = {
        "loaded_by": f"peft {peft.__version__}",
        "tensors": len(saved),
        "all_tensors_equal": True,
        "scaling": {k: v for k, v in model.base_model.model.model.layers[0].self_attn.q_proj.scaling.items()},
    }
    (out / "peft_check.json").write_text(json.dumps(check, indent=1) + "\n")
    expected_for(out, seed)
    print("[recfound_lora] ok: PEFT loads it with every tensor equal")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recfound", default=str(REPO / "target" / "debug" / "recfound"), help="the recfound binary")
    args = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    make_peft(
        "peft_lora",
        LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
                   init_lora_weights=False, task_type="CAUSAL_LM"),
        seed=11,
    )
    make_peft(
        "peft_rslora",
        LoraConfig(r=2, lora_alpha=6, use_rslora=True, target_modules=r".*\.1\.self_attn\.(q|v)_proj",
                   init_lora_weights=False, task_type="CAUSAL_LM"),
        seed=12,
    )
    make_recfound(Path(args.recfound), seed=13)
    return 0


if __name__ == "__main__":
    sys.exit(main())
