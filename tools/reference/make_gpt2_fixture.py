"""Generate the GPT-2 reference fixtures used by the Swift ILQLModel tests.

Run from the repository root:

    /work/venv/bin/python tools/reference/make_gpt2_fixture.py

Writes, under Tests/ILQLModelTests/Fixtures/:
  gpt2-tiny/                          tiny random GPT2LMHeadModel (config.json + model.safetensors)
  gpt2-tiny-reference.safetensors     inputs, float64-computed logits/hidden/loss and all parameter gradients
  safetensors-sample.safetensors      small multi-dtype file written by the Rust safetensors writer
and tools/reference/SAFETENSORS_LAYOUT.md is hand-written from the layout this script prints.

Everything is seeded, and the model is built from a config with random init (no hub access needed).
"""

import copy
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

SEED = 1234
BATCH, SEQ_LEN = 2, 8

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO_ROOT, "Tests", "ILQLModelTests", "Fixtures")
MODEL_DIR = os.path.join(FIXTURES, "gpt2-tiny")
REFERENCE_PATH = os.path.join(FIXTURES, "gpt2-tiny-reference.safetensors")
SAMPLE_PATH = os.path.join(FIXTURES, "safetensors-sample.safetensors")


def build_model() -> GPT2LMHeadModel:
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        vocab_size=37,
        n_positions=16,
        activation_function="gelu_new",  # tanh approximation, what GPT-2 checkpoints use
        layer_norm_epsilon=1e-5,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
        bos_token_id=36,
        eos_token_id=36,
    )
    # Eager attention so the reference is the plain softmax(QK^T/sqrt(d))V the Swift code implements.
    config._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config).float()

    # HF init sets LayerNorm weight=1, bias=0 and Conv1D bias=0. With those values a wrong
    # gradient for them (e.g. forgetting to multiply by gamma) can still match, so move them away.
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.add_(torch.randn(module.weight.shape, generator=gen) * 0.1)
                module.bias.add_(torch.randn(module.bias.shape, generator=gen) * 0.05)
            elif isinstance(module, (Conv1D, torch.nn.Linear)) and module.bias is not None:
                module.bias.add_(torch.randn(module.bias.shape, generator=gen) * 0.05)
    assert model.lm_head.weight is model.transformer.wte.weight, "embeddings must be tied"
    return model


def save_model(model: GPT2LMHeadModel) -> list:
    model.save_pretrained(MODEL_DIR, safe_serialization=True)
    # The generation config is irrelevant for the Swift side; keep the fixture minimal.
    gen_cfg = os.path.join(MODEL_DIR, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    # With transformers 5.x the file holds exactly the 2 + 12*n_layer + 2 = 28 parameter tensors:
    # transformer.wte/wpe.weight, per block ln_1/ln_2 weight+bias, attn.c_attn/c_proj and
    # mlp.c_fc/c_proj weight+bias, and transformer.ln_f weight+bias. The tied lm_head.weight is
    # dropped, and no attn.bias causal-mask buffers are written (5.x builds masks on the fly;
    # older 4.x versions stored them). The Swift loader must therefore accept both without
    # lm_head.weight and, for older files, ignore attn.bias / attn.masked_bias.
    from safetensors import safe_open

    with safe_open(os.path.join(MODEL_DIR, "model.safetensors"), "pt") as f:
        keys = sorted(f.keys())
    assert "lm_head.weight" not in keys
    return keys


def reference_pass(model: GPT2LMHeadModel):
    """Forward + backward in float64 so the fixture is an accurate target for float32 Swift."""
    gen = torch.Generator().manual_seed(SEED + 2)
    vocab, n_embd = model.config.vocab_size, model.config.n_embd
    tokens = torch.randint(0, vocab, (BATCH, SEQ_LEN), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, vocab, (BATCH, SEQ_LEN), generator=gen, dtype=torch.int64)
    hidden_probe = torch.randn(BATCH, SEQ_LEN, n_embd, generator=gen, dtype=torch.float32)

    ref = copy.deepcopy(model).double().eval()

    # Capture ln_f's output directly: that is the definition of the final hidden state the Swift
    # model exposes, independent of how this transformers version fills hidden_states.
    captured = {}
    hook = ref.transformer.ln_f.register_forward_hook(lambda m, i, o: captured.__setitem__("ln_f", o))
    out = ref(tokens, output_hidden_states=True)
    hook.remove()
    hidden = captured["ln_f"]
    hs_last_is_post_ln_f = bool(torch.equal(out.hidden_states[-1], hidden))

    logits = out.logits
    ce = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="mean")
    # The probe term feeds a gradient straight into the final hidden states, exercising the
    # second upstream-gradient input of the Swift backward (value/Q heads read those states).
    loss = ce + (hidden * hidden_probe.double()).sum()
    loss.backward()

    # named_parameters() de-duplicates the tied lm_head.weight, so wte's grad already contains
    # both the embedding-lookup and LM-head contributions.
    grads = {f"grad.{name}": p.grad.float().contiguous() for name, p in ref.named_parameters()}
    assert "grad.lm_head.weight" not in grads

    tensors = {
        "tokens": tokens.to(torch.int32),
        "targets": targets.to(torch.int32),
        "hidden_probe": hidden_probe,
        "logits": logits.detach().float().contiguous(),
        "hidden": hidden.detach().float().contiguous(),
        "loss": loss.detach().float().reshape(1),
        **grads,
    }
    return tensors, hs_last_is_post_ln_f, loss.item()


def sort_metadata_in_place(path: str):
    """Rewrite the header with __metadata__ keys sorted, leaving everything else byte-identical.

    The Rust writer keeps __metadata__ in a HashMap with a per-process random seed, so its key
    order (and hence the file's bytes) changes from run to run. Sorting the keys is one of the
    orders Rust itself can emit and makes regenerated fixtures byte-identical.
    """
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    n = struct.unpack("<Q", raw[:8])[0]
    text = raw[8 : 8 + n].decode("utf-8")
    body = text.rstrip(" ")
    header = json.loads(body)  # dicts keep the file's order, so only __metadata__ moves
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new_body = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    assert len(new_body) == len(body), "reordering keys must not change the header length"
    raw[8 : 8 + len(body)] = new_body.encode("utf-8")
    with open(path, "wb") as f:
        f.write(raw)


def read_header(path: str):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw[:8], raw[8 : 8 + n], len(raw)


def write_sample():
    # Mixed dtypes, ranks 0..2 and an empty tensor, so the Swift reader/writer round trip covers
    # dtype-ordered data layout, shape [] and zero-length data_offsets.
    tensors = {
        "a": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
        "b": torch.tensor(3.25, dtype=torch.float32),
        "c": torch.tensor([1, -2, 3, 1 << 40], dtype=torch.int64),
        "d": torch.zeros(0, dtype=torch.float32),
        "e": torch.tensor([[7], [-8], [9]], dtype=torch.int32),
    }
    save_file(tensors, SAMPLE_PATH, metadata={"format": "pt", "note": "sample"})
    sort_metadata_in_place(SAMPLE_PATH)


def make_readable(paths):
    # The Rust writer creates files with mode 0600; fixtures must be readable by whoever runs the tests.
    for p in paths:
        os.chmod(p, 0o644)


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    model = build_model()
    keys = save_model(model)
    tensors, hs_post_ln_f, loss = reference_pass(model)

    cfg = model.config
    metadata = {
        "n_layer": str(cfg.n_layer),
        "n_embd": str(cfg.n_embd),
        "n_head": str(cfg.n_head),
        "vocab_size": str(cfg.vocab_size),
        "n_positions": str(cfg.n_positions),
        "batch": str(BATCH),
        "seq_len": str(SEQ_LEN),
        "seed": str(SEED),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    save_file(tensors, REFERENCE_PATH, metadata=metadata)
    sort_metadata_in_place(REFERENCE_PATH)
    write_sample()
    make_readable([os.path.join(MODEL_DIR, "model.safetensors"), REFERENCE_PATH, SAMPLE_PATH])

    print(f"wrote {MODEL_DIR}/ ({', '.join(sorted(os.listdir(MODEL_DIR)))})")
    print(f"  model.safetensors keys ({len(keys)}):")
    for k in keys:
        print(f"    {k}")
    print(f"wrote {REFERENCE_PATH}")
    for name, t in tensors.items():
        print(f"    {name:45s} {str(t.dtype).replace('torch.', ''):8s} {list(t.shape)}")
    print(f"  loss = {loss:.10f}")
    print(f"  hidden_states[-1] is post-ln_f in transformers {transformers.__version__}: {hs_post_ln_f}")
    prefix, header, total = read_header(SAMPLE_PATH)
    print(f"wrote {SAMPLE_PATH} ({total} bytes)")
    print(f"  length prefix (u64 LE) = {prefix.hex(' ')} -> {len(header)}")
    print(f"  header = {header!r}")
    print(f"  parsed = {json.loads(header)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
