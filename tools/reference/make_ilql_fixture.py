"""Generate the ILQL loss reference fixtures used by the Swift ILQL tests.

Run from the repository root:

    /work/venv/bin/python tools/reference/make_ilql_fixture.py

This is a restatement (not a copy) of CarperAI trlx's ILQL as /work/shared/ILQL.md specifies it:
  - batch building:  trlx/pipeline/offline_pipeline.py (tokenize_dialogue, ilql_collate_fn) and
                     trlx/trainer/accelerate_ilql_trainer.py (make_experience)      -> ILQL.md §1
  - heads:           trlx/models/modeling_ilql.py (ILQLHeads), trlx/utils/modeling.py (make_head)
  - loss and stats:  trlx/models/modeling_ilql.py (ILQLConfig.loss),
                     trlx/utils/modeling.py (get_tensor_stats, flatten_dict)       -> ILQL.md §3
trlx itself is not installed or imported.

Writes, under Tests/ILQLTests/Fixtures/ilql/:
  model-two-qs.safetensors   tiny GPT-2 trunk (HF keys, no lm_head.weight) + ILQL heads (trlx names)
  model-one-q.safetensors    same trunk; v_head, q_heads.0 and target_q_heads.0 of the two-qs model
  batch.safetensors          the padded ILQL batch (+ the phrases and raw rewards it came from)
  case-<name>.safetensors    float64-computed loss terms, stats, forward outputs, loss-input
                             gradients (dloss.*) and every parameter gradient (grad.*) for one set
                             of hyperparameters; the forward outputs (the same in every case) are
                             written for case-default only

Before writing anything it checks that
  - the batch builder reproduces the worked example table of ILQL.md §1, and
  - the loss function reproduces ILQL.md §3's golden numbers (to 1e-6) on its synthetic outputs.

Everything is seeded and single-threaded; re-running gives byte-identical files.
"""

import copy
import json
import math
import os
import sys
from dataclasses import dataclass
from functools import reduce
from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Documented helpers of the GPT-2 fixture script: sorted __metadata__ for byte-stable files, and
# chmod 0644 (the Rust writer creates 0600 files).
from make_gpt2_fixture import make_readable, sort_metadata_in_place  # noqa: E402

SEED = 4321
N_LAYER, N_EMBD, N_HEAD, VOCAB, N_POSITIONS = 2, 32, 4, 11, 16
# Token ids 0..8 are ordinary tokens. GPT-2 uses <|endoftext|> as both BOS and EOS, so BOS = EOS = 9.
EOS_ID = 9
BOS_ID = 9
# The tokenizer's pad id. trlx's ilql_collate_fn right-pads input_ids with 0, NOT with the pad id,
# so id 10 never appears in the batch; it only exists in the vocabulary / config.
PAD_ID = 10
INPUT_IDS_PADDING_VALUE = 0
# trlx: torch.finfo(torch.float64).eps (the returns tensor is float64)
REWARD_EPS = 2.220446049250313e-16

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "Tests", "ILQLTests", "Fixtures", "ilql")

V_BIAS_SHIFT = 0.4


# --------------------------------------------------------------------------------------------
# ILQL.md §1: from samples to an ILQL batch
# --------------------------------------------------------------------------------------------


@dataclass
class PlainString:
    """A 'plain string' sample s; trlx turns it into the dialogue [BOS, s]."""

    tokens: List[int]


Sample = Union[PlainString, Sequence[Sequence[int]]]


def tokenize_sample(sample: Sample, eos_id: int, bos_id: int, max_length: int = 2048):
    """ILQL.md §1 steps 1-2 on pre-tokenized phrases (trlx tokenize_dialogue, right truncation).

    Returns a list of (is_output, tokens) messages. Phrases are lists of token ids here instead of
    strings, so "ends with the EOS string" becomes "last token is EOS".
    """
    if isinstance(sample, PlainString):
        phrases = [[bos_id], list(sample.tokens)]
    else:
        phrases = [list(p) for p in sample]
        if len(phrases) % 2 != 0:
            raise ValueError("a sample must alternate prompt and output phrases")
    if not (phrases[-1] and phrases[-1][-1] == eos_id):
        phrases[-1] = phrases[-1] + [eos_id]
    messages = [(i % 2 == 1, phrases[i]) for i in range(len(phrases))]
    # Right truncation: keep the first max_length tokens in total. (A truncated sample loses its
    # EOS; its last state still gets done = 0 below.)
    out, used = [], 0
    for is_output, toks in messages:
        keep = toks[: max(max_length - used, 0)]
        used += len(toks)
        if keep:  # trlx drops empty messages
            out.append((is_output, keep))
    if out[0][0]:  # no prompt left: trlx prepends a BOS prompt, making room for it if needed
        if sum(len(t) for _, t in out) == max_length:
            out[-1] = (out[-1][0], out[-1][1][:-1])
        out.insert(0, (False, [bos_id]))
    return out


def build_ilql_batch(samples: Sequence[Sample], raw_rewards: Sequence[float], eos_id: int, bos_id: int,
                     max_length: int = 2048):
    """ILQL.md §1 (trlx make_experience + ilql_collate_fn). Returns (per-sample lists, padded batch)."""
    per_sample = []
    for sample in samples:
        messages = tokenize_sample(sample, eos_id, bos_id, max_length)
        input_ids, actions_ixs, length = [], [], 0
        for is_output, toks in messages:
            if is_output:
                # the state that predicts the token at position p is p - 1
                actions_ixs.extend(range(length - 1, length + len(toks) - 1))
            input_ids.extend(toks)
            length += len(toks)
        states_ixs = actions_ixs + [length - 1]
        dones = [1] * (len(states_ixs) - 1) + [0]  # "not done" flags; the last state is terminal
        per_sample.append(dict(input_ids=input_ids, actions_ixs=actions_ixs, states_ixs=states_ixs, dones=dones))

    # Dataset-level reward standardisation, in float64 like trlx (torch.tensor(rewards, dtype=float)).
    returns = torch.tensor(list(raw_rewards), dtype=torch.float64)
    returns = returns - returns.mean()
    std = returns.std()  # unbiased; NaN for a single sample -> no division
    if not torch.isnan(std):
        returns = returns / (std + REWARD_EPS)
    for s, ret in zip(per_sample, returns.tolist()):
        s["rewards"] = [0.0] * (len(s["actions_ixs"]) - 1) + [ret]  # float64 values
        s["actions"] = [s["input_ids"][1:][i] for i in s["actions_ixs"]]

    def pad(key, dtype, value):
        return pad_sequence([torch.tensor(s[key], dtype=dtype) for s in per_sample], batch_first=True,
                            padding_value=value)

    batch = dict(
        input_ids=pad("input_ids", torch.int64, INPUT_IDS_PADDING_VALUE),
        attention_mask=pad_sequence([torch.ones(len(s["input_ids"]), dtype=torch.int64) for s in per_sample],
                                    batch_first=True, padding_value=0),
        # trlx stores rewards as float32 (torch.zeros(len(x)) then rs[-1] = ret)
        rewards=pad("rewards", torch.float32, 0.0),
        states_ixs=pad("states_ixs", torch.int64, 0),
        actions_ixs=pad("actions_ixs", torch.int64, 0),
        dones=pad("dones", torch.int64, 0),
    )
    return per_sample, batch, returns


def check_worked_example():
    """ILQL.md §1's table, with §3's token ids: A = p0 p1 p2 | c0 c1 c2 + EOS, B = q0 | d0 + EOS."""
    eos = 4
    per, batch, r = build_ilql_batch([[[1, 2, 3], [0, 2, 1]], [[3], [1]]], [1.0, 0.0], eos_id=eos, bos_id=eos)
    a, b = per
    h = 0.70710678
    assert a["input_ids"] == [1, 2, 3, 0, 2, 1, 4] and b["input_ids"] == [3, 1, 4]
    assert a["actions_ixs"] == [2, 3, 4, 5] and b["actions_ixs"] == [0, 1]
    assert a["states_ixs"] == [2, 3, 4, 5, 6] and b["states_ixs"] == [0, 1, 2]
    assert a["dones"] == [1, 1, 1, 1, 0] and b["dones"] == [1, 1, 0]
    assert a["actions"] == [0, 2, 1, 4] and b["actions"] == [1, 4]
    assert a["rewards"][:3] == [0.0] * 3 and b["rewards"][:1] == [0.0]
    assert abs(a["rewards"][3] - h) < 1e-8 and abs(b["rewards"][1] + h) < 1e-8
    mask = batch["dones"][:, :-1]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]] and int(mask.sum()) == 6
    actions = batch["input_ids"][:, 1:].gather(1, batch["actions_ixs"])
    assert actions.tolist() == [[0, 2, 1, 4], [1, 4, 1, 1]]
    # a plain string is [BOS, s]; right truncation keeps the left part
    assert tokenize_sample(PlainString([1, 2]), eos, 7) == [(False, [7]), (True, [1, 2, 4])]
    assert tokenize_sample([[1, 2], [3, 4]], eos, 7, max_length=3) == [(False, [1, 2]), (True, [3])]
    print("ILQL.md §1 worked example: reproduced")
    return per, batch


# --------------------------------------------------------------------------------------------
# ILQL.md §2: model and heads
# --------------------------------------------------------------------------------------------


def make_head(n_embd: int, out: int) -> nn.Sequential:
    """trlx make_head: Linear(d, 2d) -> ReLU -> Linear(2d, out), PyTorch default init."""
    return nn.Sequential(nn.Linear(n_embd, 2 * n_embd), nn.ReLU(), nn.Linear(2 * n_embd, out))


class ILQLHeads(nn.Module):
    """Same module tree as trlx ILQLHeads, so state_dict keys are v_head.*, q_heads.<k>.*, target_q_heads.<k>.*."""

    def __init__(self, v_head, q_heads, target_q_heads):
        super().__init__()
        self.v_head = v_head
        self.q_heads = nn.ModuleList(q_heads)
        self.target_q_heads = nn.ModuleList(target_q_heads)
        for t in self.target_q_heads:
            t.requires_grad_(False)

    @staticmethod
    def gather(x, ixs):  # trlx batched_index_select along dim 1
        return x.gather(1, ixs.unsqueeze(-1).expand(ixs.shape[0], ixs.shape[1], x.shape[-1]))

    def forward(self, hs, states_ixs, actions_ixs):
        states_hs = self.gather(hs, states_ixs)
        actions_hs = self.gather(hs, actions_ixs)
        qs = tuple(q(actions_hs) for q in self.q_heads)
        target_qs = tuple(q(actions_hs) for q in self.target_q_heads)
        vs = self.v_head(states_hs)
        return qs, target_qs, vs


def build_models():
    config = GPT2Config(
        n_layer=N_LAYER, n_embd=N_EMBD, n_head=N_HEAD, vocab_size=VOCAB, n_positions=N_POSITIONS,
        activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config).float().eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():  # move LayerNorm 1/0 and Linear/Conv1D biases 0 away from trivial values
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.add_(torch.randn(module.weight.shape, generator=gen) * 0.1)
                module.bias.add_(torch.randn(module.bias.shape, generator=gen) * 0.05)
            elif isinstance(module, (Conv1D, nn.Linear)) and module.bias is not None:
                module.bias.add_(torch.randn(module.bias.shape, generator=gen) * 0.05)
    assert model.lm_head.weight is model.transformer.wte.weight

    torch.manual_seed(SEED + 2)  # head init: PyTorch Linear default, in trlx's creation order
    v_head = make_head(N_EMBD, 1)
    q_heads = [make_head(N_EMBD, VOCAB) for _ in range(2)]
    # With the seeded init every V is ~0.4 above every target Q, so T - V < 0 everywhere and the
    # expectile's tau branch (T >= V) would never run. Shifting V's output bias makes T - V take
    # both signs (run_case asserts it, with a margin, for every case).
    with torch.no_grad():
        v_head[2].bias.sub_(V_BIAS_SHIFT)
    target_q_heads = [copy.deepcopy(q) for q in q_heads]
    # As after some training, the targets differ from the online heads.
    gen = torch.Generator().manual_seed(SEED + 3)
    with torch.no_grad():
        for t in target_q_heads:
            for p in t.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    heads_two = ILQLHeads(v_head, q_heads, target_q_heads)
    # two_qs = false: same trunk, and the two-qs model's v_head, q_heads.0, target_q_heads.0.
    heads_one = ILQLHeads(copy.deepcopy(v_head), [copy.deepcopy(q_heads[0])], [copy.deepcopy(target_q_heads[0])])
    return model, heads_two, heads_one


# --------------------------------------------------------------------------------------------
# ILQL.md §3: loss and stats (trlx ILQLConfig.loss)
# --------------------------------------------------------------------------------------------


@dataclass
class Hyper:
    tau: float = 0.7
    gamma: float = 0.99
    cql_scale: float = 0.1
    awac_scale: float = 1.0
    beta: float = 0.0
    two_qs: bool = True


def tensor_stats(xs, mask, n):
    """trlx get_tensor_stats: masked mean/std over n, min/max over unmasked entries."""
    mean = (xs * mask).sum() / n
    return dict(
        mean=mean.item(),
        min=torch.where(mask.bool(), xs, math.inf).min().item(),
        max=torch.where(mask.bool(), xs, -math.inf).max().item(),
        std=torch.sqrt(((xs - mean) * mask).pow(2).sum() / n).item(),
    )


def ilql_loss(logits, qs, target_qs, vs, batch, hp: Hyper):
    """logits [B,T,V] (all positions), qs/target_qs tuples of [B,A,V] (at actions_ixs), vs [B,A+1,1] (at states_ixs)."""
    dtype = logits.dtype
    dones = batch["dones"].to(dtype)
    mask = dones[:, :-1]  # m[b,t]: 0 exactly on padded action slots (a sample's terminal 0 lands there)
    n = max(1.0, mask.sum().item())
    actions = batch["input_ids"][:, 1:].gather(1, batch["actions_ixs"])  # [B,A]
    bsize, nactions = actions.shape
    vocab = logits.shape[-1]

    Q = [q.gather(-1, actions.unsqueeze(-1)).squeeze(-1) for q in qs]
    targetQ = reduce(torch.minimum, [q.gather(-1, actions.unsqueeze(-1)).squeeze(-1) for q in target_qs]).detach()
    V = vs[:, :-1, 0]
    Vnext = (vs[:, 1:, 0] * dones[:, 1:]).detach()
    y = batch["rewards"].to(dtype) + hp.gamma * Vnext

    loss_q = sum(((Qk - y) * mask).pow(2).sum() / n for Qk in Q)

    u = targetQ - V
    w = torch.where(u >= 0, torch.full_like(u, hp.tau), torch.full_like(u, 1.0 - hp.tau))
    loss_v = (w * u.pow(2) * mask).sum() / n

    def cross_entropy(scores):  # [B,A,V] -> [B,A]: -log softmax(scores)[action]
        return F.cross_entropy(scores.reshape(-1, vocab), actions.reshape(-1), reduction="none").reshape(bsize, nactions)

    loss_cql = sum((cross_entropy(q) * mask).sum() / n for q in qs)

    action_logits = ILQLHeads.gather(logits, batch["actions_ixs"])
    with torch.no_grad():
        awac_weight = torch.exp(hp.beta * (targetQ - V))
    loss_awac = (cross_entropy(action_logits) * awac_weight * mask).sum() / n

    loss = loss_q + loss_v + hp.cql_scale * loss_cql + hp.awac_scale * loss_awac

    stats = {
        "losses/loss": loss.item(),
        "losses/loss_q": loss_q.item(),
        "losses/loss_v": loss_v.item(),
        "losses/loss_cql": loss_cql.item(),
        "losses/loss_awac": loss_awac.item(),
    }
    for key, x in [("values", V)] + [(f"qvalues/{k}", Qk) for k, Qk in enumerate(Q)] + [("awac_weight", awac_weight)]:
        for s, val in tensor_stats(x.detach(), mask, n).items():
            stats[f"{key}/{s}"] = val
    return loss, stats, dict(u=u.detach(), mask=mask)


def check_golden_numbers():
    """ILQL.md §3's golden numbers from its synthetic outputs, through the same ilql_loss."""
    per_sample, batch = check_worked_example()
    B, T = batch["input_ids"].shape
    Vn = 5
    b = torch.arange(B, dtype=torch.float64).view(B, 1, 1)
    p = torch.arange(T, dtype=torch.float64).view(1, T, 1)
    v = torch.arange(Vn, dtype=torch.float64).view(1, 1, Vn)
    logits = torch.sin(1 + b + 0.7 * p + 1.3 * v)
    q1 = 0.5 * torch.cos(0.3 * b + 0.2 * p + 0.9 * v)
    q2 = 0.5 * torch.sin(0.4 * b + 0.3 * p + 0.5 * v + 0.1)
    t1 = 0.4 * torch.cos(0.1 + 0.25 * b + 0.15 * p + 0.8 * v)
    t2 = 0.45 * torch.sin(0.2 * b + 0.35 * p + 0.6 * v)
    vfull = 0.3 * torch.sin(0.5 + 0.6 * b + 0.45 * p)  # [B,T,1]
    g_a = lambda x: ILQLHeads.gather(x, batch["actions_ixs"])  # noqa: E731
    qs, tqs, vs = (g_a(q1), g_a(q2)), (g_a(t1), g_a(t2)), ILQLHeads.gather(vfull, batch["states_ixs"])
    # The batch's rewards are float32 as in trlx; the golden numbers are float64 throughout.
    rewards64 = pad_sequence([torch.tensor(s["rewards"], dtype=torch.float64) for s in per_sample], batch_first=True)
    batch = dict(batch, rewards=rewards64)
    expected = {
        0.0: {"losses/loss_q": 0.503320, "losses/loss_v": 0.048008, "losses/loss_cql": 3.238963,
              "losses/loss_awac": 1.898717, "losses/loss": 2.773941,
              "values/mean": 0.248254, "values/std": 0.065044},
        1.0: {"losses/loss_awac": 1.417364, "losses/loss": 2.292588},
    }
    failures = []
    for beta, want in expected.items():
        _, stats, _ = ilql_loss(logits, qs, tqs, vs, batch, Hyper(beta=beta))
        for k, val in want.items():
            ok = abs(stats[k] - val) <= 1e-6
            print(f"  golden beta={beta:g} {k:18s} expected {val:.6f} got {stats[k]:.9f} {'ok' if ok else 'MISMATCH'}")
            if not ok:
                failures.append((beta, k, val, stats[k]))
    if failures:
        raise AssertionError(f"ILQL.md §3 golden numbers not reproduced: {failures}")
    print("ILQL.md §3 golden numbers: reproduced (|diff| <= 1e-6)")


# --------------------------------------------------------------------------------------------
# Fixture batch, forward/backward, cases
# --------------------------------------------------------------------------------------------

# Sample 0: two prompt/output pairs (non-contiguous actions_ixs), EOS appended.
# Sample 1: a short single pair whose output already ends with EOS (nothing appended).
# Sample 2: a plain string -> [BOS] + tokens, EOS appended.
SAMPLES = [
    [[1, 2], [3, 4], [5], [6, 7]],
    [[8], [0, EOS_ID]],
    PlainString([2, 5, 3, 3]),
]
# Not [1, 0, 0.5]: that standardises sample 2's reward to exactly 0. These give three non-zero r̂.
RAW_REWARDS = [1.0, 0.0, 0.25]

CASES = {
    "default": Hyper(),
    "beta1": Hyper(beta=1.0),
    "one_q": Hyper(two_qs=False),
    "no_cql": Hyper(cql_scale=0.0),
    "no_awac": Hyper(awac_scale=0.0),
    "tau_gamma": Hyper(tau=0.6, gamma=0.9, beta=0.5),
}


def check_padding_is_invisible(model64, batch, per_sample):
    """The padded forward must equal each sample's unpadded forward at real positions."""
    with torch.no_grad():
        out = model64(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        for i, s in enumerate(per_sample):
            ids = torch.tensor([s["input_ids"]])
            single = model64(input_ids=ids, output_hidden_states=True)
            L = ids.shape[1]
            d = (out.hidden_states[-1][i, :L] - single.hidden_states[-1][0]).abs().max().item()
            assert d < 1e-12, f"sample {i}: padded forward differs by {d}"


def run_case(model, heads, batch, hp: Hyper):
    model64 = copy.deepcopy(model).double().eval()
    heads64 = copy.deepcopy(heads).double()
    captured = {}
    hook = model64.transformer.ln_f.register_forward_hook(lambda m, i, o: captured.__setitem__("ln_f", o))
    # as trlx's trainer: input_ids + attention_mask, no position_ids, heads on hidden_states[-1]
    out = model64(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    hook.remove()
    h = out.hidden_states[-1]
    assert torch.equal(h, captured["ln_f"]), "hidden_states[-1] must be the post-ln_f output"
    logits = out.logits
    h.retain_grad()
    logits.retain_grad()
    h_heads = h.clone()  # identity; its .grad is the part of dL/dh that comes through the heads
    h_heads.retain_grad()
    qs, target_qs, vs = heads64(h_heads, batch["states_ixs"], batch["actions_ixs"])
    for q in qs:
        q.retain_grad()
    vs.retain_grad()
    loss, stats, aux = ilql_loss(logits, qs, target_qs, vs, batch, hp)
    loss.backward()

    # Both expectile branches are exercised, and no T - V sits so close to 0 that float32
    # rounding could move it to the other branch.
    u = aux["u"][aux["mask"].bool()]
    assert (u > 1e-3).any() and (u < -1e-3).any() and u.abs().min() > 1e-3, u

    # dL/dh = (through heads) + dL/dlogits @ wte  (tied LM head)
    wte = model64.transformer.wte.weight.detach()
    total = h_heads.grad + logits.grad @ wte
    assert (h.grad - total).abs().max().item() < 1e-12

    grads = {}
    for name, p in model64.named_parameters():  # de-duplicated: wte's grad includes the LM head's
        assert name != "lm_head.weight"
        grads[name] = p.grad
    for name, p in heads64.named_parameters():
        if name.startswith("target_q_heads."):
            assert p.grad is None or not p.grad.any(), f"target head got a gradient: {name}"
            continue
        grads[f"ilql_heads.{name}"] = p.grad
    dloss = {"dloss.logits": logits.grad, "dloss.vs": vs.grad[..., 0], "dloss.hidden_heads": h_heads.grad}
    for k, q in enumerate(qs):
        dloss[f"dloss.qs.{k}"] = q.grad
    return stats, h.detach(), logits.detach(), grads, dloss


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def save(path, tensors, metadata):
    save_file(tensors, path, metadata=metadata)
    sort_metadata_in_place(path)
    make_readable([path])


def model_tensors(model, heads):
    tensors = {k: f32(v) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    assert all(k.startswith("transformer.") and ".attn.bias" not in k for k in tensors)
    tensors.update({f"ilql_heads.{k}": f32(v) for k, v in heads.state_dict().items()})
    return tensors


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)

    check_golden_numbers()

    per_sample, batch, returns = build_ilql_batch(SAMPLES, RAW_REWARDS, EOS_ID, BOS_ID)
    model, heads_two, heads_one = build_models()
    check_padding_is_invisible(copy.deepcopy(model).double().eval(), batch, per_sample)

    common_meta = {
        "n_layer": str(N_LAYER), "n_embd": str(N_EMBD), "n_head": str(N_HEAD), "vocab_size": str(VOCAB),
        "n_positions": str(N_POSITIONS), "eos_token_id": str(EOS_ID), "bos_token_id": str(BOS_ID),
        "pad_token_id": str(PAD_ID), "seed": str(SEED),
        "torch_version": torch.__version__, "transformers_version": transformers.__version__,
    }
    written = []

    for fname, heads, two_qs in [("model-two-qs.safetensors", heads_two, True),
                                 ("model-one-q.safetensors", heads_one, False)]:
        path = os.path.join(OUT_DIR, fname)
        save(path, model_tensors(model, heads), dict(common_meta, two_qs=str(two_qs).lower(),
                                                     layer_norm_epsilon="1e-05", activation_function="gelu_new"))
        written.append(path)

    phrases = [[[BOS_ID], list(s.tokens)] if isinstance(s, PlainString) else [list(p) for p in s] for s in SAMPLES]
    actions = batch["input_ids"][:, 1:].gather(1, batch["actions_ixs"])
    batch_tensors = {
        "input_ids": batch["input_ids"].to(torch.int32),
        "attention_mask": batch["attention_mask"].to(torch.int32),
        "actions_ixs": batch["actions_ixs"].to(torch.int32),
        "states_ixs": batch["states_ixs"].to(torch.int32),
        "rewards": batch["rewards"].to(torch.float32),
        "dones": batch["dones"].to(torch.float32),
        "actions": actions.to(torch.int32),
    }
    path = os.path.join(OUT_DIR, "batch.safetensors")
    save(path, batch_tensors, dict(
        common_meta,
        phrases=json.dumps(phrases),
        plain_string_samples=json.dumps([i for i, s in enumerate(SAMPLES) if isinstance(s, PlainString)]),
        raw_rewards=json.dumps(RAW_REWARDS),
        standardised_rewards_float64=json.dumps([repr(x) for x in returns.tolist()]),
        reward_eps=repr(REWARD_EPS),
        padding_values=json.dumps({"input_ids": INPUT_IDS_PADDING_VALUE, "attention_mask": 0, "actions_ixs": 0,
                                   "states_ixs": 0, "rewards": 0.0, "dones": 0}),
    ))
    written.append(path)

    # float64 forward uses the float32-stored rewards, exactly what the Swift side reads.
    summary = []
    for name, hp in CASES.items():
        heads = heads_two if hp.two_qs else heads_one
        stats, hidden, logits, grads, dloss = run_case(model, heads, batch, hp)
        tensors = {k: torch.tensor([v], dtype=torch.float32) for k, v in stats.items()}
        if name == "default":  # the trunk's outputs do not depend on the case
            tensors["hidden"] = f32(hidden)
            tensors["logits"] = f32(logits)
        tensors.update({k: f32(v) for k, v in dloss.items()})
        for k, g in grads.items():
            tensors[f"grad.{k}"] = f32(g)
        path = os.path.join(OUT_DIR, f"case-{name}.safetensors")
        save(path, tensors, dict(
            tau=repr(hp.tau), gamma=repr(hp.gamma), cql_scale=repr(hp.cql_scale), awac_scale=repr(hp.awac_scale),
            beta=repr(hp.beta), two_qs=str(hp.two_qs).lower(), case=name,
            grads="all",
        ))
        written.append(path)
        summary.append((name, hp, stats))

    # ---- report ----
    print("\nbatch (input_ids padded with %d; all other fields padded with 0):" % INPUT_IDS_PADDING_VALUE)
    for k, t in batch_tensors.items():
        print(f"  {k:15s} {t.tolist()}")
    print(f"  standardised rewards (float64) {returns.tolist()}")
    print("\ncase        tau  gamma cql  awac beta two_qs |   loss       loss_q     loss_v     loss_cql   loss_awac")
    for name, hp, s in summary:
        print(f"{name:10s} {hp.tau:4g} {hp.gamma:5g} {hp.cql_scale:4g} {hp.awac_scale:4g} {hp.beta:4g} {str(hp.two_qs):6s} |"
              f" {s['losses/loss']:10.6f} {s['losses/loss_q']:10.6f} {s['losses/loss_v']:10.6f}"
              f" {s['losses/loss_cql']:10.6f} {s['losses/loss_awac']:10.6f}")
    print()
    total = 0
    for p in written:
        size = os.path.getsize(p)
        total += size
        print(f"wrote {os.path.relpath(p, REPO_ROOT)} ({size} bytes)")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
