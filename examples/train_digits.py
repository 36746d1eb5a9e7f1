"""Train an MLP on the 8x8 digits that ship with torchish, written as a plain PyTorch script.

    python examples/train_digits.py

Replace ``import torchish as torch`` with ``import torch`` (and the dataset with your own) and
this is an ordinary PyTorch program; here the training step runs as one XLA program
(``torch.compile``).  ``torchish train configs/digits_mlp.yaml`` runs the same job from a config.
"""

import time

import torchish as torch
import torchish.nn as nn
import torchish.nn.functional as F
from torchish.utils.data import DataLoader
from torchish.vision.datasets import Digits

torch.manual_seed(0)
train_set, test_set = Digits(train=True), Digits(train=False)  # 1,437 / 360 grey 8x8 images
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True)
test_loader = DataLoader(test_set, batch_size=360)

model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
epochs = 80
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(train_loader))


@torch.compile
def train_step(x, y):  # x: (B, 1, 8, 8), y: (B,)
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
    loss.backward()
    optimizer.step()
    return loss


@torch.compile
def predict(x):
    return model(x).argmax(dim=1)


start = time.perf_counter()
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        loss = train_step(x, y)
        scheduler.step()
    if (epoch + 1) % 10 == 0:
        model.eval()
        with torch.no_grad():
            correct = sum((predict(x) == y).sum().item() for x, y in test_loader)
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  test accuracy {correct / len(test_set):.4f}")

print(f"{time.perf_counter() - start:.1f} s")
torch.save(model.state_dict(), "digits_mlp.pt")
