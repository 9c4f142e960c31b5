"""The training steps of bench/ntm_step.mn and bench/mann_episode.mn, in JAX.

The same models and sizes as Mnemo's stdlib (ntm.mn, mann.mn, nn.mn), each
whole step (forward, backward, optimizer update) compiled once with jax.jit
and timed on one thread, so that `bench/peers/compare.sh` can print Mnemo's
time as a ratio of JAX's, measured in the same run.

NTM copy step: LSTM controller of 100, memory 128 x 20 (initialised to 1e-6),
one read and one write head with 3 shifts and the paper's activations, a copy
sequence of 20 bits-vectors of width 8 (inputs 9, outputs 8), the loss the
summed binary cross-entropy of the answer part, RMSProp in Graves's form
(decay 0.95, momentum 0.9, eps 1e-4, lr 1e-4) with gradients clipped to +-10.

MANN episode: batch 16, 50 steps (5 classes x 10 shots of 20 features, the
previous label joined: 25 inputs), LSTM 200, memory 128 x 40, 4 read heads
with LRUA writing (usage decay 0.95), cross-entropy over all steps, Adam
(lr 1e-3) with the gradients' global norm clipped to 10.

Run: python3 jax_models.py [ntm|mann|all] [repeats]; prints "<name> <ms> ms/step".
"""
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", False)


def glorot(key, fan_in, fan_out):
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit)


def linear_params(key, n_in, n_out):
    return {"W": glorot(key, n_in, n_out), "b": jnp.zeros((n_out,), jnp.float32)}


def lstm_params(key, n_in, hidden):
    # Gates i, f, g, o; the forget gate's bias starts at 1, as nn.LSTMCell's.
    b = jnp.concatenate([jnp.zeros(hidden), jnp.ones(hidden), jnp.zeros(2 * hidden)]).astype(jnp.float32)
    return {"W": glorot(key, n_in + hidden, 4 * hidden), "b": b}


def lstm_step(p, x, h, c):
    z = jnp.concatenate([x, h], axis=-1) @ p["W"] + p["b"]
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c2 = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h2 = jax.nn.sigmoid(o) * jnp.tanh(c2)
    return h2, c2


def cosine(memory, key):
    dots = memory @ key
    norms = jnp.linalg.norm(memory, axis=-1) * jnp.linalg.norm(key) + 1e-8
    return dots / norms


def address(memory, raw, previous, width, shifts):
    # key, beta (softplus), g (sigmoid), shift logits (softmax), gamma (1 + softplus).
    k = raw[:width]
    beta = jax.nn.softplus(raw[width])
    g = jax.nn.sigmoid(raw[width + 1])
    s = jax.nn.softmax(raw[width + 2:width + 2 + shifts])
    gamma = 1 + jax.nn.softplus(raw[width + 2 + shifts])
    wc = jax.nn.softmax(beta * cosine(memory, k))
    wg = g * wc + (1 - g) * previous
    # Circular convolution with offsets -1, 0, +1 (entry k moves weight by k - shifts // 2).
    ws = sum(s[j] * jnp.roll(wg, j - shifts // 2) for j in range(shifts))
    wp = jnp.power(ws + 1e-30, gamma)
    return wp / jnp.sum(wp)


def ntm_init(key, inputs, outputs, hidden, slots, width, shifts):
    keys = jax.random.split(key, 4)
    read_size = width + 3 + shifts
    return {
        "cell": lstm_params(keys[0], inputs + width, hidden),
        "read": linear_params(keys[1], hidden, read_size),
        "write": linear_params(keys[2], hidden, read_size + 2 * width),
        "out": linear_params(keys[3], hidden + width, outputs),
    }


def ntm_loss(params, xs, target, start, slots, width, shifts):
    hidden = params["cell"]["b"].shape[0] // 4
    read_size = width + 3 + shifts
    first = jnp.zeros(slots, jnp.float32).at[0].set(1.0)
    carry = (jnp.full((slots, width), 1e-6, jnp.float32), jnp.zeros(hidden), jnp.zeros(hidden),
             jnp.zeros(width), first, first)

    def step(carry, x):
        memory, h, c, read, w_read, w_write = carry
        h, c = lstm_step(params["cell"], jnp.concatenate([x, read]), h, c)
        raw = h @ params["write"]["W"] + params["write"]["b"]
        w_write = address(memory, raw[:read_size], w_write, width, shifts)
        erase = jax.nn.sigmoid(raw[read_size:read_size + width])
        add = jnp.tanh(raw[read_size + width:])
        memory = memory * (1 - jnp.outer(w_write, erase)) + jnp.outer(w_write, add)
        w_read = address(memory, h @ params["read"]["W"] + params["read"]["b"], w_read, width, shifts)
        read = w_read @ memory
        return (memory, h, c, read, w_read, w_write), jnp.concatenate([h, read])

    _, features = jax.lax.scan(step, carry, xs)
    logits = features @ params["out"]["W"] + params["out"]["b"]
    answer = logits[start:start + target.shape[0]]
    # Binary cross-entropy from logits, summed.
    return jnp.sum(jnp.maximum(answer, 0) - answer * target + jnp.log1p(jnp.exp(-jnp.abs(answer))))


def rmsprop_graves(params, grads, state, lr=1e-4, decay=0.95, momentum=0.9, eps=1e-4, clip=10.0):
    def update(p, g, s):
        g = jnp.clip(g, -clip, clip)
        n = decay * s["n"] + (1 - decay) * g * g
        gbar = decay * s["g"] + (1 - decay) * g
        delta = momentum * s["d"] - lr * g / jnp.sqrt(n - gbar * gbar + eps)
        return p + delta, {"n": n, "g": gbar, "d": delta}
    flat = jax.tree_util.tree_map(update, params, grads, state, is_leaf=lambda x: isinstance(x, dict) and "n" in x)
    new_params = jax.tree_util.tree_map(lambda t: t[0], flat, is_leaf=lambda x: isinstance(x, tuple))
    new_state = jax.tree_util.tree_map(lambda t: t[1], flat, is_leaf=lambda x: isinstance(x, tuple))
    return new_params, new_state


def adam(params, grads, state, step, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, clipnorm=10.0):
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
    scale = jnp.where(norm > clipnorm, clipnorm / norm, 1.0)

    def update(p, g, s):
        g = g * scale
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        mhat = m / (1 - b1 ** step)
        vhat = v / (1 - b2 ** step)
        return p - lr * mhat / (jnp.sqrt(vhat) + eps), {"m": m, "v": v}
    flat = jax.tree_util.tree_map(update, params, grads, state, is_leaf=lambda x: isinstance(x, dict) and "m" in x)
    new_params = jax.tree_util.tree_map(lambda t: t[0], flat, is_leaf=lambda x: isinstance(x, tuple))
    new_state = jax.tree_util.tree_map(lambda t: t[1], flat, is_leaf=lambda x: isinstance(x, tuple))
    return new_params, new_state


def mann_init(key, inputs, classes, hidden, slots, width, reads):
    keys = jax.random.split(key, 4)
    return {
        "cell": lstm_params(keys[0], inputs + reads * width, hidden),
        "key": linear_params(keys[1], hidden, reads * width),
        "gate": linear_params(keys[2], hidden, reads),
        "out": linear_params(keys[3], hidden + reads * width, classes),
    }


def mann_loss(params, xs, labels, slots, width, reads, decay=0.95):
    batch = xs.shape[1]
    hidden = params["cell"]["b"].shape[0] // 4

    def least_used(usage, n):
        # The n least-used slots (ties to the lower slot), as a 0/1 mask.
        _, idx = jax.lax.top_k(-usage, n)
        return jnp.zeros_like(usage).at[idx].set(1.0)

    def step(carry, x):
        memory, h, c, read, w_read, usage = carry
        h, c = lstm_step(params["cell"], jnp.concatenate([x, read], axis=-1), h, c)
        keys = jnp.tanh(h @ params["key"]["W"] + params["key"]["b"]).reshape(batch, reads, width)
        least = jax.vmap(lambda u: least_used(u, reads))(usage)
        # Clear the single least-used slot, then add each head's key with the LRUA weights.
        first = jax.vmap(lambda u: least_used(u, 1))(usage)
        memory = memory * (1 - first)[:, :, None]
        alpha = jax.nn.sigmoid(h @ params["gate"]["W"] + params["gate"]["b"])[:, :, None]
        w_write = alpha * w_read + (1 - alpha) * least[:, None, :]
        memory = memory + jnp.einsum("bhn,bhw->bnw", w_write, keys)
        # Read by content: softmax of the cosine similarity.
        dots = jnp.einsum("bnw,bhw->bhn", memory, keys)
        norms = jnp.linalg.norm(memory, axis=-1)[:, None, :] * jnp.linalg.norm(keys, axis=-1)[:, :, None] + 1e-8
        w_read = jax.nn.softmax(dots / norms, axis=-1)
        read = jnp.einsum("bhn,bnw->bhw", w_read, memory).reshape(batch, reads * width)
        usage = jax.lax.stop_gradient(decay * usage + w_read.sum(1) + w_write.sum(1))
        logits = jnp.concatenate([h, read], axis=-1) @ params["out"]["W"] + params["out"]["b"]
        return (memory, h, c, read, w_read, usage), logits

    carry = (jnp.full((batch, slots, width), 1e-6, jnp.float32), jnp.zeros((batch, hidden)), jnp.zeros((batch, hidden)),
             jnp.zeros((batch, reads * width)), jnp.zeros((batch, reads, slots)), jnp.zeros((batch, slots)))
    _, logits = jax.lax.scan(step, carry, xs)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


def timed(step, state, repeats):
    state = step(*state)  # compile and warm up
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(repeats):
        state = step(*state)
    jax.block_until_ready(state)
    return (time.perf_counter() - start) / repeats * 1000


def ntm_bench(repeats, length=20):
    slots, width, shifts = 128, 20, 3
    key = jax.random.PRNGKey(1)
    params = ntm_init(key, 9, 8, 100, slots, width, shifts)
    bits = jax.random.bernoulli(jax.random.PRNGKey(2), 0.5, (length, 8)).astype(jnp.float32)
    xs = jnp.concatenate([
        jnp.concatenate([bits, jnp.zeros((length, 1))], axis=1),
        jnp.concatenate([jnp.zeros((1, 8)), jnp.ones((1, 1))], axis=1),
        jnp.zeros((length, 9))], axis=0)
    state = jax.tree_util.tree_map(lambda p: {"n": jnp.zeros_like(p), "g": jnp.zeros_like(p), "d": jnp.zeros_like(p)}, params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(ntm_loss)(params, xs, bits, length + 1, slots, width, shifts)
        return rmsprop_graves(params, grads, state)
    return timed(step, (params, state), repeats)


def mann_bench(repeats):
    slots, width, reads, batch, classes, shots, features = 128, 40, 4, 16, 5, 10, 20
    params = mann_init(jax.random.PRNGKey(1), features + classes, classes, 200, slots, width, reads)
    steps = classes * shots
    xs = jax.random.normal(jax.random.PRNGKey(2), (steps, batch, features + classes), jnp.float32)
    labels = jax.random.randint(jax.random.PRNGKey(3), (steps, batch), 0, classes)
    state = jax.tree_util.tree_map(lambda p: {"m": jnp.zeros_like(p), "v": jnp.zeros_like(p)}, params)

    @jax.jit
    def step(params, state, count):
        grads = jax.grad(mann_loss)(params, xs, labels, slots, width, reads)
        params, state = adam(params, grads, state, count)
        return params, state, count + 1
    return timed(step, (params, state, jnp.float32(1)), repeats)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if which in ("ntm", "all"):
        print(f"ntm {ntm_bench(repeats or 40):.3f} ms/step", flush=True)
    if which in ("ntm10", "all"):
        print(f"ntm10 {ntm_bench(repeats or 40, length=10):.3f} ms/step", flush=True)
    if which in ("mann", "all"):
        print(f"mann {mann_bench(repeats or 5):.3f} ms/step", flush=True)
