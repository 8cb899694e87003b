"""Generate the GPT-2 byte-level BPE fixtures used by the Swift tokenizer tests.

Run from the repository root:

    /work/venv/bin/python tools/reference/make_bpe_fixture.py

Writes, under Tests/ILQLTests/Fixtures/bpe/:
  vocab.json      token -> id, in GPT-2's format, `<|endoftext|>` last (as GPT-2 has it at 50256)
  merges.txt      `#version: 0.2` header, then one merge "left right" per line, by rank
  expected.json   {"vocab_size", "eos_id", "versions", "cases": [{"text", "ids"}, ...]}

The BPE is trained with Hugging Face `tokenizers` on a corpus generated here from a fixed seed,
so the output is deterministic. The expected ids come from the pure-Python GPT-2 BPE (OpenAI's
`encoder.py`, which transformers 4.x's slow `GPT2Tokenizer` copied verbatim: the same regex,
byte-to-unicode table and merge loop, with `<|endoftext|>` split out first as transformers does
for special tokens). transformers 5 no longer ships that slow class, so it is embedded below.
Every case is then checked against `transformers.GPT2Tokenizer` / `GPT2TokenizerFast` loaded
from the written files (the Rust implementation in transformers 5; both classes in 4.x); the
script exits 1 if any of them disagrees. The committed fixture was also checked this way under
transformers 4.57.1 (slow `PreTrainedTokenizer` and fast `PreTrainedTokenizerFast` classes,
tokenizers 0.22) with no disagreement, and training there gives byte-identical vocab.json and
merges.txt.
"""

import json
import os
import random
import sys
from functools import lru_cache

import regex
import tokenizers
import transformers
from tokenizers import ByteLevelBPETokenizer

SEED = 20240611
VOCAB_SIZE = 500  # before `<|endoftext|>` is appended
EOS = "<|endoftext|>"

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "Tests", "ILQLTests", "Fixtures", "bpe")

# ---------------------------------------------------------------------------------------------
# Training corpus: English-ish sentences with contractions, digits, punctuation and odd spacing,
# plus a little accented Latin. CJK and emoji are deliberately absent, so the test strings that
# use them exercise byte-level fallback to single-byte tokens.

WORDS = (
    "the a an of to and in is it that was for on are with as his they be at one have this from "
    "or had by hot word but what some we can out other were all there when up use your how said "
    "each she which do their time if will way about many then them write would like so these her "
    "long make thing see him two has look more day could go come did number sound no most people "
    "my over know water than call first who may down side been now find any new work part take "
    "get place made live where after back little only round man year came show every good me "
    "give our under name very through just form sentence great think say help low line differ "
    "turn cause much mean before move right boy old too same tell does set three want air well "
    "also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again "
    "animal point mother world near build self earth father head stand own page should country "
    "walk graph reward value policy token sample prompt output model train"
).split()
CONTRACTIONS = ["don't", "it's", "I'm", "we're", "they've", "you'll", "he'd", "can't", "isn't", "that's"]
ACCENTED = ["café", "naïve", "résumé", "façade", "Zoë", "über", "jalapeño"]
PUNCTUATION = [".", ",", "!", "?", ";", ":", "...", " -", " (", ")", "\"", "'"]
SPACING = [" ", " ", " ", " ", " ", "  ", "   ", "\t", "\n", " \n", "\n\n"]


def make_corpus(rng: random.Random, lines: int = 1500) -> list[str]:
    corpus = []
    for _ in range(lines):
        pieces = []
        for position in range(rng.randint(4, 14)):
            roll = rng.random()
            if roll < 0.08:
                word = rng.choice(CONTRACTIONS)
            elif roll < 0.12:
                word = rng.choice(ACCENTED)
            elif roll < 0.20:
                word = str(rng.randint(0, 2025))
            else:
                word = rng.choice(WORDS)
            if position == 0 or rng.random() < 0.1:
                word = word.capitalize()
            pieces.append(word)
            if rng.random() < 0.15:
                pieces.append(rng.choice(PUNCTUATION))
            pieces.append(rng.choice(SPACING))
        corpus.append("".join(pieces).rstrip(" ") + rng.choice([".", "!", "?", ""]))
    return corpus


# ---------------------------------------------------------------------------------------------
# The test strings: the tricky cases for the pre-tokenisation regex and the byte mapping.

CASES = [
    "",
    "a",
    "hello world",
    "Hello World",
    " leading space",
    "trailing space ",
    "two  spaces",
    "many     spaces between",
    "   ",
    "tab\tseparated\tvalues",
    "line one\nline two\n",
    "\n\n\nnewlines first",
    "mixed \t \n whitespace\r\nCRLF",
    "don't stop, it's fine",
    "I'm sure we're done; they've gone and you'll see he'd go",
    "'s 't 're 've 'm 'll 'd",
    "DON'T SHOUT, IT'S LOUD",
    "rock'n'roll o'clock 'quoted'",
    "numbers 0 12 345 6789 2024-06-11 3.14159 1,000,000",
    "abc123def 42nd 1st",
    "punctuation!!! ??? ... --- (parens) [brackets] {braces} <angle>",
    "email@example.com http://x.org/a?b=c&d=e#frag",
    "a+b=c, x*y/z % 100 ^ 2 ~ `code` | pipe \\ backslash",
    "café naïve résumé façade",
    "Zoë über jalapeño",
    "CJK: 你好，世界。日本語のテキスト",
    "emoji 🙂 and family 👨\u200d👩\u200d👧 flag 🇫🇷",
    "combining e\u0301 vs \u00e9",
    "Greek αβγ Δ Cyrillic привет Arabic مرحبا Hebrew שלום",
    "superscript² fraction ½ roman Ⅻ circled ① digits ٣٤٥",
    "nbsp\u00a0here thin\u2009space ideographic\u3000space",
    "vertical\x0btab form\x0cfeed next\x85line",
    "separators\x1cfile\x1dgroup\x1erecord\x1funit",
    "zero\u200bwidth and BOM\ufeff",
    "control\x00null\x07bell\x1bescape\x7fdel",
    "private use \ue000 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈",
    "the end<|endoftext|>",
    "<|endoftext|>start and mid<|endoftext|>dle<|endoftext|><|endoftext|>",
    "almost <|endoftext| and |endoftext|>",
    "The model's reward was 0.7; don't    overfit!\n\tNext sample: café ☕ 2x.",
]


# ---------------------------------------------------------------------------------------------
# The slow reference: OpenAI's gpt-2 `src/encoder.py` (as copied into transformers 4.x's
# `tokenization_gpt2.py`), plus transformers' splitting-out of the special token.

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


@lru_cache()
def bytes_to_unicode() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters)))


def get_pairs(word: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


class ReferenceBPE:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.encoder = vocab
        self.bpe_ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.cache: dict[str, str] = {}

    def bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word: list[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        result = " ".join(word)
        self.cache[token] = result
        return result

    def encode_ordinary(self, text: str) -> list[int]:
        ids = []
        for piece in PATTERN.findall(text):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[part] for part in self.bpe(mapped).split(" "))
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        segments = text.split(EOS)
        for index, segment in enumerate(segments):
            if index > 0:
                ids.append(self.encoder[EOS])
            ids.extend(self.encode_ordinary(segment))
        return ids


# ---------------------------------------------------------------------------------------------


def train_and_write() -> tuple[dict[str, int], list[tuple[str, str]]]:
    corpus = make_corpus(random.Random(SEED))
    trainer = ByteLevelBPETokenizer(add_prefix_space=False)
    trainer.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=[], show_progress=False)
    model = json.loads(trainer.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    assert EOS not in vocab
    vocab[EOS] = len(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab))), "ids must be dense"

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(OUT_DIR, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for left, right in merges:
            f.write(f"{left} {right}\n")
    return vocab, merges


def transformers_tokenizers() -> list[tuple[str, object]]:
    """Every GPT-2 tokenizer class transformers offers, loaded from the written files."""
    loaded = []
    for name in ("GPT2Tokenizer", "GPT2TokenizerFast"):
        cls = getattr(transformers, name, None)
        if cls is None:
            continue
        # from_pretrained reads vocab.json + merges.txt in every version (transformers 5's
        # constructor no longer takes file paths).
        tokenizer = cls.from_pretrained(OUT_DIR)
        assert len(tokenizer) == len(json.load(open(os.path.join(OUT_DIR, "vocab.json"), encoding="utf-8")))
        loaded.append((f"{name} ({type(tokenizer).__mro__[1].__name__})", tokenizer))
    return loaded


def main() -> int:
    vocab, merges = train_and_write()
    reference = ReferenceBPE(vocab, merges)
    others = transformers_tokenizers()
    cases = []
    disagreements = 0
    for text in CASES:
        ids = reference.encode(text)
        for name, tokenizer in others:
            theirs = tokenizer.encode(text, add_special_tokens=False)
            if theirs != ids:
                disagreements += 1
                print(f"DISAGREE {name} on {text!r}:\n  reference {ids}\n  {name} {theirs}")
        cases.append({"text": text, "ids": ids})

    expected = {
        "vocab_size": len(vocab),
        "merges": len(merges),
        "eos_id": vocab[EOS],
        "versions": {
            "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__,
            "checked_against": [name for name, _ in others],
        },
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=True, indent=1)
        f.write("\n")
    sizes = {name: os.path.getsize(os.path.join(OUT_DIR, name)) for name in ("vocab.json", "merges.txt", "expected.json")}
    print(f"vocab {len(vocab)} (eos {vocab[EOS]}), merges {len(merges)}, cases {len(cases)}, bytes {sizes}")
    print(f"checked against {[name for name, _ in others]}: {disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
