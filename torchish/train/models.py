"""Built-in models for config-driven runs: MLP, CNN, ResNet, GPT, LSTM.

Plain ``torchish.nn`` Modules written as one would in PyTorch (nothing here is specific to the
trainer).  Arguments the dataset knows (``in_features``, ``in_channels``, ``num_classes``,
``vocab_size``, ``block_size``) are filled in by ``registry.build_model`` when a config leaves
them out.
"""

from __future__ import annotations

import math

import torchish
from torchish import nn
from torchish.nn import functional as F

__all__ = ["MLP", "CNN", "ResNet", "GPT", "LSTM"]


class MLP(nn.Module):
    """A multi-layer perceptron over flattened inputs: (Linear, activation, Dropout) x N, Linear.

    Shape: input (B, *) with prod(*) = in_features; output (B, num_classes).
    """

    def __init__(self, in_features: int, num_classes: int, hidden=(128,), dropout: float = 0.0,
                 activation: str = "ReLU"):
        super().__init__()
        layers: list = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), getattr(nn, activation)()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)  # (B, num_classes)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU())


class CNN(nn.Module):
    """A small conv net: per stage (Conv3x3, BatchNorm, ReLU) x 2 and a 2x2 max-pool; global
    average pooling, Dropout, Linear.  Sized for 8x8 digits; works on any image size.

    Shape: input (B, in_channels, H, W); output (B, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int, channels=(32, 64), dropout: float = 0.25):
        super().__init__()
        stages, c = [], in_channels
        for i, width in enumerate(channels):
            stages += [_conv_bn(c, width), _conv_bn(width, width)]
            if i < len(channels) - 1:
                stages.append(nn.MaxPool2d(2))
            c = width
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.head(self.features(x))  # (B, num_classes)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv + BatchNorm, and a (projected) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-18-style (``layers=(2, 2, 2, 2)`` basic blocks, widths ``width * (1, 2, 4, 8)``) for
    small images: a 3x3 stem without max-pool, so 8x8 and 32x32 inputs both work.

    Shape: input (B, in_channels, H, W); output (B, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, layers=(2, 2, 2, 2)):
        super().__init__()
        self.stem = _conv_bn(in_channels, width)
        blocks, c = [], width
        for i, n in enumerate(layers):
            out = width * 2 ** i
            for j in range(n):
                blocks.append(BasicBlock(c, out, stride=2 if (i > 0 and j == 0) else 1))
                c = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))  # (B, num_classes)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, T, C)
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A decoder-only Transformer (GPT-2 style: pre-LayerNorm blocks, causal self-attention, GELU
    MLP, learned positions); weights initialised N(0, 0.02) as nanoGPT, projections scaled by depth.

    Shape: input (B, T) token ids, T <= block_size; output (B, T, vocab_size) logits.
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int = 2, n_head: int = 4, n_embd: int = 128,
                 dropout: float = 0.0):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):  # residual projections (GPT-2)
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif p.dim() == 2 and "ln" not in name:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):  # (B, T)
        T = idx.shape[1]
        if T > self.block_size:
            raise ValueError(f"GPT: sequence length {T} exceeds block_size {self.block_size}")
        x = self.drop(self.tok_emb(idx) + self.pos_emb(torchish.arange(T)))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, vocab_size)


class LSTM(nn.Module):
    """An LSTM language model: Embedding, ``nn.LSTM`` (batch_first), Dropout, Linear.

    Shape: input (B, T) token ids; output (B, T, vocab_size) logits.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden_size: int = 256, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx):  # (B, T)
        out, _ = self.lstm(self.embed(idx))  # (B, T, hidden)
        return self.head(self.drop(out))  # (B, T, vocab_size)
