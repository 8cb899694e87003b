"""Generate the optimizer fixture used by the Swift ILQL tests: torch.optim.AdamW stepped under
torch.optim.lr_scheduler.CosineAnnealingLR, as trlx's trainer does.

Run from the repository root:

    venv/bin/python tools/reference/make_optimizer_fixture.py

Writes Tests/ILQLTests/Fixtures/optimizer.safetensors with, for a decayed and an undecayed float32
parameter tensor: the initial values, the gradient fed before each of STEPS steps, the values
after each step, and the learning rate each step used. Seeded; re-running gives identical files.
"""

import os

import torch
from safetensors.torch import save_file

from make_gpt2_fixture import sort_metadata_in_place

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "Tests", "ILQLTests", "Fixtures", "optimizer.safetensors")

STEPS = 8
LR, BETAS, EPS, WEIGHT_DECAY = 1e-2, (0.9, 0.95), 1e-8, 0.1
T_MAX, ETA_MIN = 5, 1e-3  # T_max below STEPS: the schedule turns back up after step 5


def main():
    generator = torch.Generator().manual_seed(2024)
    decayed = torch.nn.Parameter(torch.randn(37, generator=generator))
    undecayed = torch.nn.Parameter(torch.randn(19, generator=generator))
    tensors = {"decayed.initial": decayed.detach().clone(), "undecayed.initial": undecayed.detach().clone()}
    optimizer = torch.optim.AdamW(
        [{"params": [decayed], "weight_decay": WEIGHT_DECAY}, {"params": [undecayed], "weight_decay": 0.0}],
        lr=LR, betas=BETAS, eps=EPS, foreach=False)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=T_MAX, eta_min=ETA_MIN)
    learning_rates = []
    for step in range(1, STEPS + 1):
        for name, parameter in (("decayed", decayed), ("undecayed", undecayed)):
            # Gradients of varied scale, including a near-zero one, as training produces.
            gradient = torch.randn(parameter.shape, generator=generator) * (10.0 ** (step % 4 - 2))
            parameter.grad = gradient
            tensors[f"{name}.grad.{step}"] = gradient.clone()
        learning_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        tensors[f"decayed.after.{step}"] = decayed.detach().clone()
        tensors[f"undecayed.after.{step}"] = undecayed.detach().clone()
    tensors["learning_rates"] = torch.tensor(learning_rates, dtype=torch.float64)
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT_PATH, metadata={
        "lr": repr(LR), "beta1": repr(BETAS[0]), "beta2": repr(BETAS[1]), "eps": repr(EPS),
        "weight_decay": repr(WEIGHT_DECAY), "T_max": str(T_MAX), "eta_min": repr(ETA_MIN), "steps": str(STEPS),
        "torch": torch.__version__,
    })
    sort_metadata_in_place(OUT_PATH)
    print(f"wrote {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes); learning rates {learning_rates}")


if __name__ == "__main__":
    main()
