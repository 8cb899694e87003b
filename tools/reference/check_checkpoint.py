"""Check that a GPT-2 checkpoint written by the Swift trainer loads in transformers unchanged.

Usage (from the repository root):

    /work/venv/bin/python tools/reference/check_checkpoint.py DIR

DIR must contain
  config.json + model.safetensors   Hugging Face GPT-2 format, as written by Swift
  probe.safetensors                 `tokens` I32 [B,T] and the `logits` F32 [B,T,V] Swift computed on them

The script loads DIR with GPT2LMHeadModel.from_pretrained, recomputes the logits in float32 and
compares. Exit status 0 = loads cleanly and logits agree, 1 = mismatch or bad load, 2 = usage error.
"""

import os
import sys

import torch
from safetensors.torch import load_file
from transformers import GPT2LMHeadModel

# Both sides compute in float32 but sum in different orders (OpenBLAS sgemm blocking vs PyTorch's
# kernels, different softmax/LayerNorm reductions), so agreement is ~1e-6 relative, not bitwise.
# For logits of magnitude O(1..10) that is well under 1e-4; a wrong weight layout, a missing
# transpose or a mis-tied head gives differences of order 1e-2 or more.
MAX_ABS_TOL = 1e-4

# The LM head is tied to transformer.wte.weight, so checkpoints legitimately omit it.
TIED_KEYS = {"lm_head.weight"}


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ckpt = argv[1]
    probe_path = os.path.join(ckpt, "probe.safetensors")
    for name in ("config.json", "model.safetensors", "probe.safetensors"):
        if not os.path.isfile(os.path.join(ckpt, name)):
            print(f"FAIL: {os.path.join(ckpt, name)} not found")
            return 1

    # dtype is explicit because transformers 5.x defaults to the config's dtype ("auto").
    model, info = GPT2LMHeadModel.from_pretrained(ckpt, dtype=torch.float32, output_loading_info=True)
    model.eval()

    ok = True
    missing = [k for k in info["missing_keys"] if k not in TIED_KEYS]
    print(f"missing keys:    {sorted(info['missing_keys']) or 'none'}")
    print(f"unexpected keys: {sorted(info['unexpected_keys']) or 'none'}")
    if missing:
        print(f"FAIL: checkpoint lacks parameters: {sorted(missing)}")
        ok = False
    if info.get("mismatched_keys"):
        print(f"FAIL: shape mismatches: {info['mismatched_keys']}")
        ok = False
    if info.get("error_msgs"):
        print(f"FAIL: load errors: {info['error_msgs']}")
        ok = False
    if model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr():
        # The Swift model always ties the head; an untied HF model would silently use another matrix.
        print("FAIL: lm_head.weight is not tied to transformer.wte.weight (check tie_word_embeddings)")
        ok = False

    probe = load_file(probe_path)
    tokens = probe["tokens"].long()
    expected = probe["logits"].float()
    with torch.no_grad():
        actual = model(tokens).logits.float()
    if actual.shape != expected.shape:
        print(f"FAIL: logits shape {list(actual.shape)} from transformers vs {list(expected.shape)} in probe")
        return 1

    diff = (actual - expected).abs()
    max_abs = diff.max().item()
    # Relative to the largest logit magnitude: element-wise ratios blow up for logits near zero.
    max_rel = max_abs / max(expected.abs().max().item(), 1e-12)
    print(f"tokens {list(tokens.shape)}, logits {list(expected.shape)}")
    print(f"max abs diff: {max_abs:.3e}")
    print(f"max rel diff: {max_rel:.3e} (max abs diff / max |logit|)")
    if max_abs > MAX_ABS_TOL:
        print(f"FAIL: max abs diff {max_abs:.3e} > {MAX_ABS_TOL:.0e}")
        ok = False

    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
