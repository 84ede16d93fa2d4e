"""reel-tiny text encoder: word tokenizer + 2 pre-LN transformer layers. Contract:
pipeline/model/TEXT_ENCODER.md (the C++ engine implements exactly this)."""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data

PAD, UNK, BOS = 0, 1, 2
SPECIALS = ["<pad>", "<unk>", "<bos>"]
LN_EPS = 1e-5


class Tokenizer:
    def __init__(self, vocab, max_tokens):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_tokens = max_tokens

    @staticmethod
    def build(max_tokens=32):
        return Tokenizer(SPECIALS + data.vocabulary(), max_tokens)

    @staticmethod
    def load(path):
        with open(path) as f:
            j = json.load(f)
        assert j["type"] == "reel-words"
        return Tokenizer(j["vocab"], j["max_tokens"])

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"type": "reel-words", "max_tokens": self.max_tokens, "pad_id": PAD,
                       "unk_id": UNK, "bos_id": BOS, "vocab": self.vocab}, f, indent=1)
            f.write("\n")

    def encode(self, text):
        """-> (ids[max_tokens], mask[max_tokens]): <bos>, word ids (unknown -> <unk>), padding."""
        ids = [BOS] + [self.index.get(w, UNK) for w in data.words(text)]
        ids = ids[: self.max_tokens]
        mask = [1] * len(ids) + [0] * (self.max_tokens - len(ids))
        ids = ids + [PAD] * (self.max_tokens - len(ids))
        return ids, mask

    def batch(self, texts):
        enc = [self.encode(t) for t in texts]
        return (torch.tensor([e[0] for e in enc], dtype=torch.long),
                torch.tensor([e[1] for e in enc], dtype=torch.long))


class Layer(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x, mask):
        b, n, d = x.shape
        hd = d // self.heads
        h = self.norm1(x)
        q = self.q(h).view(b, n, self.heads, hd).transpose(1, 2)
        k = self.k(h).view(b, n, self.heads, hd).transpose(1, 2)
        v = self.v(h).view(b, n, self.heads, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class TextEncoder(nn.Module):
    def __init__(self, vocab_size, dim=128, layers=2, heads=4, mlp=256, max_tokens=32):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.zeros(max_tokens, dim))
        self.layers = nn.ModuleList([Layer(dim, heads, mlp) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(dim, eps=LN_EPS)
        nn.init.normal_(self.token_embedding.weight, std=0.5)
        nn.init.normal_(self.position_embedding, std=0.1)

    def forward(self, ids, mask):
        """ids, mask (B, L) -> hidden states (B, L, dim) (rows at padded positions are don't-care)."""
        x = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x, mask)
        return self.final_norm(x)
