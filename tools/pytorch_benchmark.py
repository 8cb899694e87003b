"""PyTorch baseline for the Swift ILQL trainer: step time of the same model, batch and ILQL loss.

Run from the repository root:

    venv/bin/python tools/pytorch_benchmark.py [--configs randomwalks,small] [--threads N] [--steps 9] [--json FILE]
                                               [--sync lerp|trlx] [--synthetic]

For each benchmark shape of /work/shared/DESIGN.md §6 it trains a `transformers.GPT2LMHeadModel` (random init,
dropout 0, gelu_new, eager attention, tied LM head) with trlx's ILQL heads and loss, and reports the median wall
time of one training step. What a step is (and how it matches the Swift `ScalingBenchmark`):

  - batch, as the Swift `BenchmarkShape.dataset()`:
    - randomwalks: trlx's randomwalks data (seed 1000: the 1000 walks and optimalities of
      Tests/ILQLTests/Fixtures/randomwalks-1000.json, written by tools/reference/make_randomwalks_fixture.py), as
      trlx builds it: sample [first letter, rest of the walk], letters a…u as ids 0…20, EOS 21, reward the
      optimality, truncated to seq_length 11. Batches of B walks in a seeded order, each padded to its own longest
      sample as trlx's `ilql_collate_fn` pads (11 tokens in practice: half the walks never reach the goal).
    - small, gpt2-124M (and every config with --synthetic): 4·B samples of exactly T tokens (one prompt token, T−1
      action tokens, random ids < vocab−1; the EOS = vocab−1 that trlx appends is cut off again by the right
      truncation to seq_length T, as in the Swift benchmark); actions_ixs = 0…T−2, states_ixs = 0…T−1,
      dones = 1…1,0, rewards zero except the last (the dataset's random rewards, standardised).
    Steps take the batches in turn. They are built by `tools/reference/make_ilql_fixture.py`'s `build_ilql_batch`
    (trlx's pipeline).
  - forward as trlx's `AutoModelForCausalLMWithILQLHeads.forward`: the trunk with `output_hidden_states=True` and
    an all-ones attention mask; heads (`ILQLHeads` of make_ilql_fixture.py: v_head, two q_heads, two
    target_q_heads, each Linear(d,2d)-ReLU-Linear(2d,out)) on `hidden_states[-1]` gathered at
    states_ixs/actions_ixs. Like trlx, the LM head computes logits at ALL T positions and the loss gathers those at
    actions_ixs (the Swift trainer computes logits only at action positions: here T−1 of T, so this costs PyTorch
    about 1/T of the LM head's work).
  - loss: trlx's `ILQLConfig.loss` as restated by make_ilql_fixture.py's `ilql_loss` (tau 0.7, gamma 0.99,
    cql_scale 0.1, awac_scale 1, beta 0, two_qs), including its logged stats, as trlx computes them every step.
  - backward; `torch.optim.AdamW` (fused if this torch supports it on CPU, else foreach) with lr 5e-5,
    betas (0.9, 0.95), eps 1e-8, weight_decay 1e-6 over trunk + online heads; `zero_grad(set_to_none=True)`.
  - Polyak target sync every step (alpha 0.001; the Swift benchmark syncs every step too). `--sync lerp` (default,
    PyTorch's best case) does it with `torch._foreach_lerp_`; `--sync trlx` uses trlx's exact expression
    `target.copy_(alpha * online + (1 - alpha) * target)`. Both are the same update up to rounding.

Timing: 2 warm-up steps, then the median of --steps steps, time.perf_counter() around the whole step.
Threads: torch.set_num_threads(--threads, default os.cpu_count()) and torch.set_num_interop_threads(1).
After the configs it measures torch's single-thread sgemm peak (best of seven 1024³ torch.mm), as the Swift
benchmarks measure OpenBLAS's, so the step-time ratio can be read against the two libraries' matmul speed.

For PyTorch's best case the script re-executes itself with glibc malloc tuned (MALLOC_MMAP_MAX_=0,
MALLOC_TRIM_THRESHOLD_=1000000000000) unless those are already set. It installs nothing; without torch or
transformers it says what to install and exits 2.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "1000000000000"}
INSTALL_HINT = "python3 -m venv venv && venv/bin/pip install torch numpy transformers"

# name: (n_layer, n_embd, n_head, vocab, seq_length T, batch B) -- DESIGN.md §6, Swift BenchmarkShape.all
# (randomwalks trains on its task data unless --synthetic, as there)
CONFIGS = {
    "randomwalks": (6, 144, 12, 23, 11, 100),
    "small": (6, 384, 6, 4096, 128, 8),
    "gpt2-124M": (12, 768, 12, 50257, 64, 4),
}
N_POSITIONS = 1024  # as the Swift shapes (maxPositions 1024)
LR, BETAS, EPS, WEIGHT_DECAY = 5e-5, (0.9, 0.95), 1e-8, 1e-6
ALPHA = 0.001
WARMUP_STEPS = 2
SEED = 7
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
RANDOMWALKS_FIXTURE = os.path.join(REPO_ROOT, "Tests", "ILQLTests", "Fixtures", "randomwalks-1000.json")
RANDOMWALKS_EOS = 21  # CharacterTokenizer.randomWalks: letters 0…20, EOS 21, pad 22


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch ILQL step-time benchmark (the Swift ScalingBenchmark's shapes).")
    p.add_argument("--configs", default="randomwalks,small",
                   help="comma-separated, from: " + ", ".join(CONFIGS) + " (default randomwalks,small)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    p.add_argument("--steps", type=int, default=9, help="timed steps after 2 warm-up steps (default 9)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--sync", choices=["lerp", "trlx"], default="lerp",
                   help="target sync: foreach lerp (default) or trlx's copy_(a*online + (1-a)*target)")
    p.add_argument("--synthetic", action="store_true",
                   help="train every config on synthetic full-length samples (randomwalks otherwise trains on its "
                        "task data), as the Swift ScalingBenchmark's --synthetic")
    args = p.parse_args(argv)
    names = [c for c in args.configs.split(",") if c]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or not names:
        p.error(f"unknown config(s) {unknown}; choose from {', '.join(CONFIGS)}")
    if args.steps < 1 or args.threads is None or args.threads < 1:
        p.error("--steps and --threads must be positive")
    args.config_names = names
    return args


def reexec_with_malloc_tuning():
    missing = {k: v for k, v in MALLOC_ENV.items() if k not in os.environ}
    if not missing:
        print("malloc: " + " ".join(f"{k}={os.environ[k]}" for k in MALLOC_ENV) + " in effect", flush=True)
        return
    env = dict(os.environ, **missing)
    print("malloc: re-executing with " + " ".join(f"{k}={v}" for k, v in missing.items())
          + " (glibc malloc tuned for PyTorch's best case)", flush=True)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parallel_info_head(torch):
    """The first lines of torch.__config__.parallel_info(): threads, OpenMP, MKL, oneDNN, backend."""
    lines = [l.strip() for l in torch.__config__.parallel_info().splitlines() if l.strip()]
    head = []
    for line in lines:
        if line.startswith("std::thread") or line.startswith("Environment variables"):
            break
        head.append(line)
    head += [l for l in lines if l.startswith("ATen parallel backend")]
    return head


def sgemm_peak(torch, n=1024, repeats=7):
    """Best-of-`repeats` FLOP/s of one single-threaded n×n×n float32 matmul, as the Swift benchmarks measure
    OpenBLAS's peak (Timing.sgemmPeak): the scale the step times compare against."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(SEED)
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - start)
        return 2 * n ** 3 / best
    finally:
        torch.set_num_threads(threads)


def make_optimizer(torch, params):
    kwargs = dict(lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, foreach=True, **kwargs), "foreach"


def synthetic_batches(fx, torch, B, T, eos):
    """As the Swift BenchmarkShape's synthetic data: 4·B samples, [[t0], [t1 … t_{T-1}]], ids < eos."""
    gen = torch.Generator().manual_seed(SEED)
    count = 4 * B
    tokens = torch.randint(0, eos, (count, T), generator=gen).tolist()
    raw_rewards = torch.rand(count, generator=gen, dtype=torch.float64).tolist()
    samples = [[[t[0]], t[1:]] for t in tokens]
    _, full, _ = fx.build_ilql_batch(samples, raw_rewards, eos_id=eos, bos_id=eos, max_length=T)
    assert full["input_ids"].shape == (count, T)
    assert torch.equal(full["actions_ixs"], torch.arange(T - 1).expand(count, -1))
    assert torch.equal(full["states_ixs"], torch.arange(T).expand(count, -1))
    assert torch.equal(full["dones"], torch.tensor([1] * (T - 1) + [0]).expand(count, -1))
    assert not full["rewards"][:, :-1].any()
    return [{k: v[i * B:(i + 1) * B].contiguous() for k, v in full.items()} for i in range(4)]


def randomwalks_batches(fx, torch, B, T):
    """trlx's randomwalks data in batches of B (a seeded order), each padded to its own longest sample as trlx's
    ilql_collate_fn pads a batch."""
    with open(RANDOMWALKS_FIXTURE) as f:
        fixture = json.load(f)
    walks, optimalities = fixture["walks"], fixture["optimalities"]
    ids = [[ord(c) - ord("a") for c in walk] for walk in walks]  # a…u → 0…20, as CharacterTokenizer.randomWalks
    samples = [[w[:1], w[1:]] for w in ids]
    _, full, _ = fx.build_ilql_batch(samples, optimalities, eos_id=RANDOMWALKS_EOS, bos_id=RANDOMWALKS_EOS,
                                     max_length=T)
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(SEED))
    batches = []
    for i in range(len(samples) // B):
        batch = {k: v[order[i * B:(i + 1) * B]] for k, v in full.items()}
        length = int(batch["attention_mask"].sum(1).max())
        actions = int(batch["dones"].sum(1).max())  # dones holds a 1 per action and a final 0
        for key, width in (("input_ids", length), ("attention_mask", length), ("actions_ixs", actions),
                           ("rewards", actions), ("states_ixs", actions + 1), ("dones", actions + 1)):
            batch[key] = batch[key][:, :width].contiguous()
        batches.append(batch)
    return batches


def run_config(name, args, torch, fx):
    from transformers import GPT2Config, GPT2LMHeadModel

    n_layer, n_embd, n_head, vocab, T, B = CONFIGS[name]
    eos = vocab - 1
    torch.manual_seed(SEED)
    config = GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab_size=vocab, n_positions=N_POSITIONS,
        activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
    )
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).float()
    model.eval()  # dropout is 0 anyway; ILQL.md §8.3: trlx's forward runs with dropout off (gradients still flow)
    assert model.lm_head.weight is model.transformer.wte.weight
    # trlx's ILQLHeads creation order: v_head, q_heads, then target_q_heads as deep copies.
    v_head = fx.make_head(n_embd, 1)
    q_heads = [fx.make_head(n_embd, vocab) for _ in range(2)]
    import copy
    heads = fx.ILQLHeads(v_head, q_heads, [copy.deepcopy(q) for q in q_heads])

    if name == "randomwalks" and not args.synthetic:
        data = "randomwalks"
        batches = randomwalks_batches(fx, torch, B, T)
    else:
        data = "synthetic"
        batches = synthetic_batches(fx, torch, B, T, eos)
    tokens_per_step = [int(b["attention_mask"].sum()) for b in batches]

    params = [p for p in model.parameters() if p.requires_grad]
    params += [p for n, p in heads.named_parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in heads.target_q_heads.parameters())
    optimizer, opt_kind = make_optimizer(torch, params)
    online = [p for q in heads.q_heads for p in q.parameters()]
    targets = [p for q in heads.target_q_heads for p in q.parameters()]
    hp = fx.Hyper(tau=0.7, gamma=0.99, cql_scale=0.1, awac_scale=1.0, beta=0.0, two_qs=True)

    def step(batch):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        qs, target_qs, vs = heads(out.hidden_states[-1], batch["states_ixs"], batch["actions_ixs"])
        loss, stats, _ = fx.ilql_loss(out.logits, qs, target_qs, vs, batch, hp)  # logits at all T positions, as trlx
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            if args.sync == "lerp":
                torch._foreach_lerp_(targets, online, ALPHA)
            else:  # trlx ILQLHeads._sync_target_q_heads
                for t, o in zip(targets, online):
                    t.data.copy_((ALPHA * o.data) + (1.0 - ALPHA) * t.data)
        return stats["losses/loss"]

    times, losses = [], []
    for i in range(WARMUP_STEPS + args.steps):
        t0 = time.perf_counter()
        loss = step(batches[i % len(batches)])
        elapsed = time.perf_counter() - t0
        losses.append(loss)
        if i >= WARMUP_STEPS:
            times.append(elapsed)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)):
        raise RuntimeError(f"{name}: non-finite loss {losses}")
    median = statistics.median(times)
    n_params = sum(p.numel() for p in params)
    # Real tokens (padding not counted), as the Swift benchmark counts them.
    timed_tokens = [tokens_per_step[i % len(batches)] for i in range(WARMUP_STEPS, WARMUP_STEPS + args.steps)]
    tokens_per_second = statistics.median(n / t for n, t in zip(timed_tokens, times))
    row = dict(config=name, data=data, threads=args.threads, batch=B, seq_length=T, steps=args.steps,
               warmup_steps=WARMUP_STEPS, step_seconds_median=median, step_seconds=times,
               tokens_per_second=tokens_per_second, tokens_per_step=statistics.mean(timed_tokens),
               optimizer=opt_kind, target_sync=args.sync, trainable_parameters=n_params,
               first_loss=losses[0], last_loss=losses[-1])
    print(f"  {name} ({data} data) × {args.threads} threads: {median * 1e3:.1f} ms/step, {tokens_per_second:.0f} tokens/s "
          f"(AdamW {opt_kind}, {n_params / 1e6:.2f}M trainable parameters, loss {losses[0]:.4f} → {losses[-1]:.4f})",
          flush=True)
    return row


def main(argv):
    args = parse_args(argv)
    missing = [m for m in ("torch", "transformers", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"pytorch_benchmark: missing Python package(s): {', '.join(missing)} (this script installs nothing).\n"
              f"Install them with:\n    {INSTALL_HINT}\nthen run it with venv/bin/python.", file=sys.stderr)
        return 2
    reexec_with_malloc_tuning()

    import torch
    import transformers

    sys.dont_write_bytecode = True  # importing the fixture script must not leave files in the tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
    import make_ilql_fixture as fx

    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)

    info = parallel_info_head(torch)
    cpu = cpu_model()
    print(f"pytorch_benchmark: torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{args.steps} timed steps after {WARMUP_STEPS} warm-up, {args.threads} threads "
          f"(os.cpu_count() {os.cpu_count()}), CPU {cpu}", flush=True)
    rows = [run_config(name, args, torch, fx) for name in args.config_names]
    peak = sgemm_peak(torch)

    print()
    print("| config | threads | step (median) | tokens/s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['threads']} | {r['step_seconds_median'] * 1e3:.1f} ms | {r['tokens_per_second']:.0f} |")
    print()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}, "
          f"AdamW {rows[0]['optimizer']}, target sync {args.sync}")
    print(f"CPU: {cpu}")
    print(f"sgemm peak (1 thread, 1024³): {peak / 1e9:.1f} GFLOP/s")
    print("malloc: " + " ".join(f"{k}={os.environ.get(k)}" for k in MALLOC_ENV))
    print("parallel_info:")
    for line in info:
        print("    " + line)

    if args.json:
        result = dict(torch_version=torch.__version__, transformers_version=transformers.__version__,
                      python_version=platform.python_version(), cpu=cpu, cpu_count=os.cpu_count(),
                      parallel_info=info, malloc_env={k: os.environ.get(k) for k in MALLOC_ENV},
                      interop_threads=torch.get_num_interop_threads(), sgemm_peak_flops=peak, rows=rows)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
