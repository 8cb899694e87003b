"""Generate the randomwalks fixtures used by the Swift tests (RandomWalksTests).

Run from the repository root:

    venv/bin/python tools/reference/make_randomwalks_fixture.py

Restates (does not import) trlx's `examples/randomwalks/randomwalks.py`: `generate_random_walks`
with numpy's legacy RandomState and networkx's shortest paths, and `metric_fn`'s optimality. For
seeds 1000 and 1002 it writes Tests/ILQLTests/Fixtures/randomwalks-<seed>.json holding the
adjacency matrix (rows of 0/1), the shortest-path node counts for starts b…u, all walks, their
optimalities (float32 values widened to double, as trlx's torch metric returns them, written with
repr so they read back exactly) and the mean optimality. Before writing, it checks seed 1000
against the facts of ILQL.md §7 and stops with an error if one fails. Deterministic: running it
again gives byte-identical files.
"""

import json
import os

import networkx as nx
import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE_DIR = os.path.join(REPO_ROOT, "Tests", "ILQLTests", "Fixtures")

N_NODES, MAX_LENGTH, N_WALKS, P_EDGE = 21, 10, 1000, 0.1
GOAL = 0
INVALID_PATH_LENGTH = 100


def generate(seed):
    """trlx's generate_random_walks: the adjacency matrix, the walks (as node lists) and the
    shortest-path node counts for starts 1…n-1, with numpy's draws in trlx's order."""
    rng = np.random.RandomState(seed)
    while True:
        adjacency = rng.rand(N_NODES, N_NODES) > (1 - P_EDGE)
        np.fill_diagonal(adjacency, 0)
        if np.all(adjacency.sum(1)):  # every node has an out-edge
            break
    adjacency[GOAL, :] = 0
    adjacency[GOAL, GOAL] = 1  # the goal is absorbing

    walks = []
    for _ in range(N_WALKS):
        node = rng.randint(N_NODES)
        while node == GOAL:
            node = rng.randint(N_NODES)
        walk = [node]
        for _ in range(MAX_LENGTH - 1):
            node = rng.choice(np.nonzero(adjacency[node])[0])
            walk.append(int(node))
            if node == GOAL:
                break
        walks.append(walk)

    graph = nx.from_numpy_array(adjacency, create_using=nx.DiGraph)
    shortest = []
    for start in range(1, N_NODES):
        try:
            shortest.append(len(nx.shortest_path(graph, start, GOAL)[:MAX_LENGTH]))
        except nx.NetworkXNoPath:
            shortest.append(MAX_LENGTH)
    return adjacency, walks, shortest


def optimality(walk, adjacency, shortest):
    """trlx's metric_fn for one valid-start sample, in float32 as its torch tensors compute it."""
    length = INVALID_PATH_LENGTH
    for index, node in enumerate(walk):
        if node >= N_NODES or index > 0 and not adjacency[walk[index - 1], node]:
            break
        if node == GOAL:
            length = index + 1
            break
    bound = MAX_LENGTH if length == INVALID_PATH_LENGTH else length
    return float(np.float32(MAX_LENGTH - bound) / np.float32(MAX_LENGTH - shortest[walk[0] - 1]))


def letters(walk):
    return "".join(chr(ord("a") + node) for node in walk)


def check_seed_1000_facts(adjacency, walks, shortest, optimalities):
    """ILQL.md §7's facts for seed 1000."""
    edges = int(adjacency.sum())
    first_walks = " ".join(letters(walk) for walk in walks[:10])
    mean = float(np.mean(optimalities))
    optimal = sum(value == 1.0 for value in optimalities) / len(optimalities)
    used = {(walk[i], walk[i + 1]) for walk in walks for i in range(len(walk) - 1)}
    print(f"seed 1000: {edges - 1} edges plus the goal's self-loop")
    print(f"  shortest node counts b…u: {shortest}")
    print(f"  first walks: {first_walks}")
    print(f"  mean optimality {mean:.7f}, {100 * optimal:.1f}% optimal")
    print(f"  edges used by the walks: {len(used)} of {edges - 1} (the goal's self-loop is never taken)")
    assert edges - 1 == 51 and adjacency[GOAL, GOAL], edges
    assert shortest == [3, 4, 2, 4, 3, 5, 5, 3, 3, 3, 4, 4, 2, 5, 4, 4, 4, 3, 4, 4], shortest
    assert first_walks == "sda fda ebjnbdtkna jnbjna lbusdtkbui bda hcorguidtk orgrgcoror orjnbda jnbjna", first_walks
    assert round(mean, 7) == 0.3515095, mean
    assert optimal == 0.184, optimal
    assert len(used) == edges - 1, used


def main():
    for seed in (1000, 1002):
        adjacency, walks, shortest = generate(seed)
        optimalities = [optimality(walk, adjacency, shortest) for walk in walks]
        if seed == 1000:
            check_seed_1000_facts(adjacency, walks, shortest, optimalities)
        fixture = {
            "seed": seed,
            "nodeCount": N_NODES,
            "maxLength": MAX_LENGTH,
            "walkCount": N_WALKS,
            "edgeProbability": P_EDGE,
            "adjacency": adjacency.astype(int).tolist(),
            "shortestPathNodeCounts": shortest,
            "walks": [letters(walk) for walk in walks],
            "optimalities": optimalities,
            "meanOptimality": float(np.mean(optimalities)),
            "numpy": np.__version__,
            "networkx": nx.__version__,
        }
        path = os.path.join(FIXTURE_DIR, f"randomwalks-{seed}.json")
        with open(path, "w") as file:
            # One key per line, lists inline: small, and diffs stay readable.
            file.write("{\n" + ",\n".join(f'"{key}": {json.dumps(value, separators=(",", ":"))}'
                                          for key, value in fixture.items()) + "\n}\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
