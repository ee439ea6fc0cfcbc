# %% [markdown]
# # 01 · Temperature and dark knowledge
#
# A trained classifier says more than its top answer. When it sees a handwritten 3 it is almost sure
# it is a 3, but it also ranks the wrong answers: "a bit like a 9, a bit like an 8, not at all like
# a 4". Hinton, Vinyals & Dean (2015) call this ranking *dark knowledge*, and distillation is the
# art of passing it on to a smaller student. The tool that brings it to light is the **temperature**
# of the softmax.
#
# **What you will learn**
#
# - what `softmax(z / T)` does to a vector of logits, and what it keeps unchanged;
# - that a trained teacher's wrong-class probabilities are tiny at `T = 1` (1e-6 and less) and
#   become visible at `T = 4`;
# - that those wrong answers are not noise: across the test set they form a *similarity structure*
#   between classes (2s resemble 3s, 4s resemble 6s, 1s resemble 8s, 5s resemble 9s) that another
#   network, trained from another seed, finds too;
# - that the entropy of the softened distribution grows with `T`, and why (a two-line derivation).
#
# **Before you run this**
#
# - `python -m pip install -e .` from the repository root (add `".[tutorials]"` for the plot:
#   `python -m pip install -e ".[tutorials]"` installs matplotlib).
# - No earlier tutorial is needed. The teacher is trained here in a few seconds with the recipe that
#   tutorial 03 ("Train a teacher") takes apart step by step.
#
# Run it as a script (`python tutorials/01_temperature_and_dark_knowledge.py`), open it as a
# notebook (jupytext, VS Code or PyCharm cell mode), or put a `breakpoint()` in any cell.
# With `MINIKD_TUTORIAL_FAST=1` it trains a smaller teacher for fewer epochs (what the test suite
# does); the numbers quoted in the text are from a full run.

# %%
import os
from pathlib import Path

import numpy as np

import minikd
from minikd import MLP, SGD, SupervisedTrainer
from minikd.datasets import load_digits, train_test_split
from minikd.functional import log_softmax, softmax

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"

try:
    import matplotlib

    if os.environ.get("MPLBACKEND") == "Agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# Figures go to $MINIKD_TUTORIAL_OUTPUT if it is set, else next to this file when run as a script, else to
# the working directory (a notebook has no __file__); see tutorials/README.md.
OUTPUT_DIR = Path(os.environ.get("MINIKD_TUTORIAL_OUTPUT")
                  or (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
STEM = "01_temperature_and_dark_knowledge"  # this file's name, for the figures' names
print(f"minikd {minikd.__version__}, FAST={FAST}")

# %% [markdown]
# ## 1. Softmax with a temperature
#
# A classifier outputs one real number per class, the **logits** `z`. The softmax turns them into
# probabilities; the temperature `T > 0` divides the logits first:
#
# $$ p_j = \mathrm{softmax}(z / T)_j = \frac{\exp(z_j / T)}{\sum_k \exp(z_k / T)}. $$
#
# Three facts to keep in mind, each checked below on a toy vector of five logits:
#
# 1. **The ranking never changes.** Dividing by a positive `T` keeps the order of the logits, so the
#    argmax (the prediction) is the same at every temperature.
# 2. **Log-ratios shrink by `1/T`.** `log(p_i / p_j) = (z_i - z_j) / T`: at `T = 1` a logit gap
#    of 10 is a probability ratio of `e^10 ≈ 22000`; at `T = 4` it is `e^2.5 ≈ 12`.
# 3. **The limits.** As `T → 0` the distribution becomes one-hot on the argmax; as `T → ∞` it
#    becomes uniform, `1/C` for each of the `C` classes.

# %%
z = np.array([8.0, 4.0, 2.5, 0.0, -2.0])  # toy logits for C = 5 classes
C_toy = z.size
temperatures = [0.1, 1.0, 2.0, 4.0, 10.0, 1000.0]

print("T        " + " ".join(f"{f'p[{j}]':>10}" for j in range(C_toy)))
for T in temperatures:
    p = softmax(z, temperature=T)
    print(f"{T:<8g} " + " ".join(f"{pj:10.2e}" for pj in p))
    # 1. the prediction does not depend on T
    assert np.argmax(p) == np.argmax(z)
    # 2. log-ratios are logit gaps divided by T (log_softmax is exact where p underflows)
    logp = log_softmax(z, temperature=T)
    np.testing.assert_allclose(logp[0] - logp, (z[0] - z) / T, rtol=1e-10,
                               err_msg="log(p0/pj) must equal (z0 - zj)/T")

# 3. the limits
np.testing.assert_allclose(softmax(z, temperature=0.1), np.eye(C_toy)[0], atol=1e-15,
                           err_msg="as T -> 0 the softmax becomes one-hot")
np.testing.assert_allclose(softmax(z, temperature=1000.0), np.full(C_toy, 1 / C_toy), atol=2e-3,
                           err_msg="as T -> infinity the softmax becomes uniform")

# %% [markdown]
# At `T = 1` the runner-up gets `e^{-4} ≈ 1.8 %` and the last class `e^{-10} ≈ 5e-5` relative to
# the winner; at `T = 4` they get `e^{-1} ≈ 37 %` and `e^{-2.5} ≈ 8 %`. The *information* (the
# order and the gaps) is the same; what changes is how loudly the small probabilities speak. That
# matters because a loss only listens to what is loud: in a cross-entropy against the teacher's
# distribution, a class the teacher gives 1e-6 contributes about 1e-6 to the gradient.

# %% [markdown]
# ## 2. A real teacher
#
# Now the real thing: an MLP with two hidden layers of 256 ReLU units, trained with plain
# cross-entropy on the 8×8 digits bundled with minikd (1,797 images, 10 classes, a stratified
# two-thirds for training and one third for testing). Tutorial 03 explains every line of this
# cell; here we only need the trained network.

# %%
X, y = load_digits()  # X: (1797, 64) in [0, 1]; y: (1797,) digits 0..9
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)
C = 10

if FAST:  # a smaller teacher and fewer epochs keep the test suite fast (~95 % instead of ~97 %)
    teacher_sizes, epochs = [64, 128, 10], 15
else:
    teacher_sizes, epochs = [64, 256, 256, 10], 60
teacher = MLP(teacher_sizes, activation="relu", seed=0)
SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=epochs, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)

logits = teacher.forward(X_test)  # (594, 10)
pred = logits.argmax(axis=1)
accuracy = float(np.mean(pred == y_test))
print(f"teacher {teacher_sizes}: test accuracy {accuracy:.1%} on {len(y_test)} test digits")
assert accuracy >= (0.93 if FAST else 0.955), accuracy

# %% [markdown]
# On our run the teacher reaches 97.0 % test accuracy. Its outputs at `T = 1` look like hard
# labels: the median test digit gives its *most likely wrong class* a probability of about 3e-6.

# %% [markdown]
# ## 3. One digit, up close
#
# Take the correctly classified test 3s and pick a typical one: the one whose runner-up probability
# (the largest probability among the nine wrong classes) is the median among them. Then compare
# its top classes at `T = 1` and `T = 4`.

# %%
P1 = softmax(logits, temperature=1.0)  # (N, C)
P4 = softmax(logits, temperature=4.0)

rows = np.arange(len(y_test))
wrong1 = P1.copy()
wrong1[rows, y_test] = -1.0  # mask the true class
runner_up = wrong1.argmax(axis=1)  # the most likely WRONG class of each test digit (same at every T)
runner_up_p1 = P1[rows, runner_up]
runner_up_p4 = P4[rows, runner_up]


def top_classes(p, k=4):
    """The k most likely classes of a probability vector, as 'class: probability' strings."""
    order = np.argsort(-p)[:k]
    return ", ".join(f"{c}: {p[c]:.2g}" for c in order)


threes = np.flatnonzero((y_test == 3) & (pred == 3))
typical = threes[np.argsort(runner_up_p1[threes])[len(threes) // 2]]  # median runner-up probability
ambiguous = threes[np.argmax(runner_up_p1[threes])]  # the 3 that most resembles something else
for name, i in (("a typical 3", typical), ("the most ambiguous 3", ambiguous)):
    print(f"{name} (test digit #{i}):")
    print(f"   T = 1: {top_classes(P1[i])}")
    print(f"   T = 4: {top_classes(P4[i])}")

# The typical 3's runner-up is inaudible at T = 1 and clearly there at T = 4.
assert runner_up_p1[typical] < 1e-2 < runner_up_p4[typical], (runner_up_p1[typical], runner_up_p4[typical])
assert P4[typical].argmax() == 3  # still a 3: softening does not change the prediction

# %% [markdown]
# On our run the typical 3 (test digit #141) is
#
# | T | top classes |
# |---|---|
# | 1 | 3: 1.0, 9: 5.4e-06, 8: 1.8e-06, 2: 6e-08 |
# | 4 | 3: 0.89, 9: 0.043, 8: 0.033, 2: 0.014 |
#
# At `T = 1` the teacher's opinion that this 3 looks more like a 9 or an 8 than like a 2 is
# there, but in the sixth decimal. At `T = 4` it is a few percent, loud enough for a loss to hear.
# The most ambiguous 3 (#454) is split 0.56 / 0.44 between 3 and 5 already at `T = 1`: it really
# does look like a 5.
#
# Over the whole test set: how big is the runner-up probability at each temperature?

# %%
median1, median4 = float(np.median(runner_up_p1)), float(np.median(runner_up_p4))
share1, share4 = float(np.mean(runner_up_p1 > 1e-2)), float(np.mean(runner_up_p4 > 1e-2))
print(f"median runner-up probability: T = 1: {median1:.1e}   T = 4: {median4:.3f}")
print(f"share of test digits whose runner-up has > 1 %: T = 1: {share1:.0%}   T = 4: {share4:.0%}")
assert median1 < 1e-2 < median4
assert share4 > 0.8 and share4 > 3 * share1

# %% [markdown]
# On our run: median runner-up probability 3.3e-06 at `T = 1` and 0.039 at `T = 4`; the share of
# test digits whose runner-up gets more than 1 % goes from 10 % to 93 %.

# %% [markdown]
# ## 4. The similarity structure
#
# Is the runner-up meaningful, or just noise of one network? Count, over the test set, the pairs
# (true class, most likely wrong class). If wrong answers were random, each of the 90 pairs would
# come up about `594 / 90 ≈ 6.6` times.

# %%
counts = np.zeros((C, C), dtype=int)
np.add.at(counts, (y_test, runner_up), 1)  # counts[i, j]: true class i whose runner-up is j
pairs = sorted(((counts[i, j], i, j) for i in range(C) for j in range(C) if i != j), reverse=True)
uniform = len(y_test) / (C * (C - 1))
print(f"most common (true, runner-up) pairs (uniform would be {uniform:.1f} each):")
for n, i, j in pairs[:8]:
    print(f"   a {i} whose runner-up is {j}: {n:3d} test digits")
top10_share = sum(n for n, _, _ in pairs[:10]) / len(y_test)
print(f"the 10 most common pairs (of 90) cover {top10_share:.0%} of the test set")
assert pairs[0][0] > 3 * uniform, "the most common pair must stand far above chance"
assert top10_share > 0.25, "10 of 90 pairs would cover 11 % by chance"

# Both directions together (a 2 mistaken for a 3 or a 3 for a 2): 45 unordered pairs.
both = counts + counts.T
unordered = sorted(((both[i, j], (i, j)) for i in range(C) for j in range(i + 1, C)), reverse=True)
top10 = [ij for _, ij in unordered[:10]]
print("the 10 most common unordered pairs:", ", ".join(f"{i}-{j}" for i, j in top10))
familiar = [(2, 3), (4, 6), (1, 8), (5, 9)]
found = [ij for ij in familiar if ij in top10]
print(f"familiar look-alike pairs among them: {found}")
assert len(found) >= 3, "(the exact order varies with the seed and split, these pairs keep coming up)"

# %% [markdown]
# On our run: 2 → 3 (33 test digits), 1 → 8 (31), 4 → 6 (30), 6 → 4 (28), 5 → 9 (26), 9 → 5 (25),
# 0 → 9 (25), 7 → 4 (20); the 10 most common pairs cover 43 % of the test set, where chance would
# give 11 %. Notice the pairs come in both directions (4 ↔ 6, 5 ↔ 9, 2 ↔ 3): similarity is
# roughly symmetric. Counting both directions, the closest pairs on our run are 4-6, 5-9, 2-3 and
# 1-8. The exact order changes with the seed and the split, but these four pairs keep coming up:
# the code checks that at least three of them are among the ten closest of the 45 pairs.
#
# A finer view keeps all the probabilities instead of only the runner-up: `S[i, j]` = the mean
# probability, at `T = 4`, that the teacher gives class `j` on test digits of class `i`. Three
# checks that this matrix describes the *digits* rather than one network's quirks:
#
# - it is roughly symmetric (if 4s look like 6s, 6s look like 4s);
# - classes whose average images are close in pixel space get more of each other's probability;
# - a different network (one hidden layer of 128 units, another seed) produces nearly the same
#   matrix.

# %%
def similarity(P):
    """S[i, j] = mean over test digits of class i of P[:, j] (rows sum to 1)."""
    return np.stack([P[y_test == c].mean(axis=0) for c in range(C)])


off_diagonal = ~np.eye(C, dtype=bool)
S = similarity(P4)
symmetry = np.corrcoef(S[off_diagonal], S.T[off_diagonal])[0, 1]

class_means = np.stack([X_train[y_train == c].mean(axis=0) for c in range(C)])  # (C, 64)
pixel_distance = np.linalg.norm(class_means[:, None, :] - class_means[None, :, :], axis=2)
pixel_agreement = np.corrcoef(-pixel_distance[off_diagonal], S[off_diagonal])[0, 1]

other = MLP([64, 128, 10], seed=1)  # another architecture, another seed, ~1 s to train
SupervisedTrainer(seed=1).train(other, X_train, y_train, epochs=15, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
S_other = similarity(other.predict_proba(X_test, temperature=4.0))
teacher_agreement = np.corrcoef(S[off_diagonal], S_other[off_diagonal])[0, 1]

print(f"correlation of S with its transpose:                       {symmetry:.2f}")
print(f"correlation of S with closeness of the class-mean images:  {pixel_agreement:.2f}")
print(f"correlation of S with the other network's S:               {teacher_agreement:.2f}")
assert symmetry > 0.5 and pixel_agreement > 0.4 and teacher_agreement > 0.8

# %% [markdown]
# On our run: 0.83 (symmetry), 0.72 (pixel space) and 0.91 (the other network). The wrong answers
# of a good teacher are a map of which digits look alike, and any decent network draws nearly the
# same map. That map is what a student receives through the soft targets and never through the
# hard labels, which say only "3" and treat 9, 8 and 4 as equally wrong.

# %% [markdown]
# ## 5. Entropy grows with the temperature
#
# The entropy `H(p) = -Σ_j p_j log p_j` measures how spread out a distribution is: 0 for one-hot,
# `log C` for uniform. `exp(H)` is the "effective number of classes".
#
# **It never decreases as `T` grows.** Write `β = 1/T`, `p_j = e^{β z_j} / Z(β)` with
# `Z(β) = Σ_k e^{β z_k}`. Then `log p_j = β z_j - log Z`, so `H = log Z - β E_p[z]`. Using
# `d log Z / dβ = E_p[z]` and `d E_p[z] / dβ = Var_p(z)`:
#
# $$ \frac{dH}{d\beta} = E_p[z] - E_p[z] - \beta\,\mathrm{Var}_p(z) = -\beta\,\mathrm{Var}_p(z)
#    \quad\Rightarrow\quad \frac{dH}{dT} = \frac{\mathrm{Var}_p(z)}{T^3} \ge 0, $$
#
# with equality only when all logits are equal. We check it on every test digit.

# %%
T_grid = np.array([0.5, 1, 2, 3, 4, 6, 8, 10, 20, 50, 100], dtype=float)
# H = -sum p log p, computed from minikd's softmax and log_softmax (exact even where p underflows)
H = np.stack([-(softmax(logits, temperature=T) * log_softmax(logits, temperature=T)).sum(axis=1)
              for T in T_grid], axis=1)  # (N, len(T_grid))
print(" T      mean entropy (nats)   effective number of classes")
for T, h in zip(T_grid, H.mean(axis=0), strict=True):
    print(f"{T:5g}   {h:8.3f}             {np.exp(h):6.2f}")

assert np.all(np.diff(H, axis=1) >= -1e-12), "entropy must not decrease with T, for every digit"
assert np.all(np.diff(H.mean(axis=0)) > 0), "the mean entropy must increase strictly"
assert np.all(H >= -1e-12) and np.all(H <= np.log(C) + 1e-12)
assert H.mean(axis=0)[-1] > 0.9 * np.log(C), "at T = 100 the teacher is nearly uniform"

# %% [markdown]
# On our run the mean entropy is 0.04 nats at `T = 1` (an effective 1.04 classes: hard labels,
# nearly), 0.59 at `T = 4` (1.8 classes) and 1.83 at `T = 10` (6.2 classes); `log 10 = 2.30`.
#
# This is the trade-off of choosing `T` for distillation. Too low, and the dark knowledge is
# inaudible; too high, and every distribution tends to the uniform one, so the soft targets of
# different digits look alike (at large `T` the differences between them shrink like `1/T`;
# tutorial 02 measures this, and shows how the loss's `T²` factor makes up for it in the gradient).
# Hinton et al. report that intermediate temperatures work best when the student is much smaller
# than the teacher; `T = 2..5` is a common starting range.

# %% [markdown]
# ## 6. The picture
#
# The typical 3 and its teacher distribution at four temperatures: on a linear scale (what a loss
# "hears") and on a log scale (what is there all along, just quiet).

# %%
T_plot = (1.0, 2.0, 4.0, 10.0)
if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, axes = plt.subplots(2, 1 + len(T_plot), figsize=(15, 5.6),
                             gridspec_kw={"width_ratios": [0.8] + [1] * len(T_plot)})
    axes[0, 0].imshow(X_test[typical].reshape(8, 8), cmap="gray_r")
    axes[0, 0].set_title(f"test digit #{typical} (a {y_test[typical]})")
    axes[0, 0].set_xticks([])
    axes[0, 0].set_yticks([])
    axes[1, 0].axis("off")
    axes[1, 0].text(0.0, 0.5, "top: linear scale\nbottom: log scale", fontsize=11, va="center")
    colors = ["tab:blue" if c == y_test[typical] else "tab:orange" for c in range(C)]
    floor = max(softmax(logits[typical]).min() / 3, 1e-300)  # the smallest probability, at T = 1
    for col, T in enumerate(T_plot, start=1):
        p = softmax(logits[typical], temperature=T)
        for row, log_scale in ((0, False), (1, True)):
            ax = axes[row, col]
            ax.bar(np.arange(C), p, color=colors)
            ax.set_xticks(np.arange(C))
            if log_scale:
                ax.set_yscale("log")
                ax.set_ylim(floor, 1.5)
                ax.set_xlabel("class")
            else:
                ax.set_ylim(0, 1)
                ax.set_title(f"T = {T:g}   (runner-up {np.sort(p)[-2]:.2g})")
    axes[0, 1].set_ylabel("softmax(z / T)")
    axes[1, 1].set_ylabel("softmax(z / T), log scale")
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_distributions.png"
    fig.savefig(out, dpi=100)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## What's next
#
# Tutorial 02 turns the softened distributions into a loss, `T² · KL(softmax(v/T) ‖ softmax(z/T))`,
# derives its gradient by hand and shows why the `T²` is there. Tutorial 03 trains the teacher used
# here, layer by layer.
#
# ## Exercises
#
# 1. Repeat section 4 at `T = 1` instead of `T = 4` (the runner-up counts do not change: why not?
#    The similarity matrix `S` does: how do its three correlations change, and why does the
#    comparison with the other network get noisier?).
# 2. Look at the teacher's *training* digits instead of the test digits: their runner-up
#    probabilities at `T = 1` are even smaller (the network has fitted them). At which temperature
#    does the median runner-up reach 1 %?
# 3. Train the teacher for only 5 epochs. Is it less confident (higher entropy at `T = 1`)? Does its
#    similarity matrix still agree with the fully trained one?
