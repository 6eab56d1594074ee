"""The main job: `python -m deepmath` trains the book's network for f(x, y) = x·cos(y) on
[-4, 4]² (chapter "Python : tensorflow avec keras - partie 2", §4) with deepmath's autodiff
engine, then prints its accuracy on points it never saw."""
import argparse
import time

import numpy as np

import deepmath as dm


def book_function(x, y):
    return x * np.cos(y)


def grid_data(n=25, low=-4.0, high=4.0):
    """The book's training set: an n×n grid of [low, high]² and z = x·cos(y)."""
    X, Y = np.meshgrid(np.linspace(low, high, n), np.linspace(low, high, n))
    inputs = np.stack([X.ravel(), Y.ravel()], axis=1).astype(np.float32)
    return inputs, book_function(inputs[:, :1], inputs[:, 1:])


def init_mlp(sizes, rng):
    """Glorot-uniform kernels (n_in, n_out) and zero biases, as Keras' Dense."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        params.append(dm.tensor(rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32),
                                requires_grad=True))
        params.append(dm.zeros(n_out, requires_grad=True))
    return params


def forward(params, x):
    """ReLU hidden layers, linear output (the book's Dense(p, 'relu') ×3 + Dense(1))."""
    for i in range(0, len(params) - 2, 2):
        x = dm.relu(x @ params[i] + params[i + 1])
    return x @ params[-2] + params[-1]


class Adam:
    """Adam (Kingma & Ba), Keras' defaults but for the learning rate."""

    def __init__(self, params, lr=0.005, beta1=0.9, beta2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.m = [np.zeros_like(p.data) for p in params]
        self.v = [np.zeros_like(p.data) for p in params]
        self.t = 0

    def step(self):
        self.t += 1
        scale = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        with dm.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad.data
                m *= self.b1
                m += (1 - self.b1) * g
                v *= self.b2
                v += (1 - self.b2) * g * g
                p -= scale * m / (np.sqrt(v) + self.eps)
                p.grad = None


def train(epochs, batch_size, width, seed, log_every):
    rng = np.random.default_rng(seed)
    x_train, y_train = grid_data()
    params = init_mlp([2, width, width, width, 1], rng)
    opt = Adam(params)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = dm.mse(y_train[batch], forward(params, x_train[batch]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        if log_every and (epoch % log_every == 0 or epoch == 1):
            print(f"epoch {epoch:4d}  loss {np.mean(losses):.5f}")
    return params


def evaluate(params, rng, n=2000, tolerance=0.25):
    """Test MSE, R² and the share of points predicted within `tolerance` of x·cos(y)."""
    x = rng.uniform(-4, 4, (n, 2)).astype(np.float32)
    z = book_function(x[:, :1], x[:, 1:])
    with dm.no_grad():
        pred = forward(params, x).numpy()
    mse = float(np.mean((pred - z) ** 2))
    r2 = 1 - mse / float(np.var(z))
    return mse, r2, float(np.mean(np.abs(pred - z) < tolerance))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deepmath", description=__doc__)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=10, help="neurons per hidden layer (book: 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    print(f"deepmath {dm.__version__} ({dm.get_backend().name} backend, "
          f"{dm.get_num_threads()} threads): learning f(x, y) = x·cos(y) on [-4, 4]², "
          f"network 2-{args.width}-{args.width}-{args.width}-1 (ReLU), Adam")
    start = time.perf_counter()
    params = train(args.epochs, args.batch_size, args.width, args.seed,
                   0 if args.quiet else max(1, args.epochs // 5))
    elapsed = time.perf_counter() - start
    mse, r2, within = evaluate(params, np.random.default_rng(args.seed + 1))
    print(f"trained {args.epochs} epochs on the book's 25×25 grid in {elapsed:.1f} s")
    print(f"test on 2000 new points: MSE {mse:.4f}, R² {r2:.4f}, "
          f"accuracy {100 * within:.1f}% (|F(x,y) - x·cos y| < 0.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
