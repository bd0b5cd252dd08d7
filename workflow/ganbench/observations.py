"""The source claims the report gives a verdict on, as data fixed before any run: the
declarative table ``OBSERVATIONS`` (one ``Observation`` per claim, with its arms, primary and
secondary endpoints), the recipes' models and the reference impls.

Every observation is judged in the recipe of the source that made the claim (config/recipes.yaml). An *arm* is ``(recipe, deviations)``: a run belongs to the arm when
``run.recipe == recipe`` and ``json.loads(run.deviations) == deviations`` exactly.

The record types and the metrics they name (effect scales, SESOI, ``combine``) are described
in ``ganbench.claim_schema``; their names are re-exported here for the modules that import them
from this one. ``ganbench.stats`` turns these into tests and verdicts; nothing here imports a
deep-learning framework. ``arms()`` is what the grid needs to build the runs.
"""
from __future__ import annotations

import math

from ganbench.claim_schema import DERIVED, LOG_SCALES, METRICS, Endpoint, MetricInfo, Observation, metric_label

__all__ = [
    "ADAM_EXPERIMENT", "BY_ID", "DERIVED", "DIVERGENCE", "LATE_FID_TREND", "LOG_10PCT", "LOG_SCALES", "METRICS",
    "OBSERVATIONS", "RECIPE_MODELS", "REFERENCE_IMPLS", "SPREAD", "Endpoint", "MetricInfo", "Observation",
    "arms_by_observation", "fid_ratio", "metric_label",
]

# The model each recipe trains (dcgan_blog's BasicGAN arm is the deviation {"model": "basic"}).
RECIPE_MODELS: dict[str, str] = {
    "basic_tutorial": "basic",
    "vanilla_mnist": "basic",
    "mnist_notebook": "basic",
    "dcgan_carpedm20": "dcgan",
    "dcgan_blog": "dcgan",
}

# Sources, named as config/recipes.yaml's `source:` keys name them.
BASIC_POST = "BasicGAN MNIST post"
VANILLA_POST = "vanilla GAN MNIST post"
NOTEBOOK = "MNIST GAN notebook"
DCGAN_WALK = "DCGAN-tensorflow walk-through"
DCGAN_POST = "DCGAN vs BasicGAN post"

# Reference implementations: every other impl is compared with each of them.
REFERENCE_IMPLS: tuple[str, ...] = ("pytorch", "tensorflow")


LOG_10PCT = math.log(1.10)


def fid_ratio(expected: str, sesoi: float = LOG_10PCT, why: str = "") -> Endpoint:
    return Endpoint("fid", "log_ratio", expected, sesoi, why or "FID of the samples; 10% is the smallest "
                    "change the sources' wording ('better', 'cleaner') would be about")


DIVERGENCE = Endpoint("divergence", "divergence", "higher", 0.2,
                      "share of seeds whose training failed: diverged (NaN/inf losses) or finished without "
                      "learning (the guard's per-run rule: < 8 classes or FID over the threshold, e.g. collapsed "
                      "to one image); SESOI one seed in five")
SPREAD = Endpoint("spread", "spread", "higher", math.log(1.5),
                  "SD over seeds of log FID (Brown-Forsythe); SESOI an SD ratio of 1.5")


LATE_FID_TREND = Endpoint(
    "fid_trend_late", "difference", "higher", LOG_10PCT,
    "'never converges': the least-squares change of log FID over the second half of training (curve points at "
    "50%, ..., 100% of the steps), treatment minus control: a run that converges has stopped falling, one that "
    "never converges keeps moving or gets worse; SESOI 10% of FID")


# One experiment, two claims (dcgan_adam and adam_no_tuning): default Adam against the recipe's.
ADAM_EXPERIMENT = dict(recipes=("dcgan_carpedm20",), factor="optim", treatment_label="default Adam (1e-3, 0.9)",
                       control_label="the recipe's Adam (2e-4, 0.5)", treatment={"optim": "adam_default"},
                       control={})

OBSERVATIONS: tuple[Observation, ...] = (
    Observation(
        id="prior", title="Noise prior U[0,1) vs U(-1,1)",
        claim=("Noise from np.random.random (U[0,1)) makes all generated images near-identical and "
               "training never converges; uniform(-1, 1) fixes it."),
        source=BASIC_POST, recipes=("basic_tutorial",), factor="prior",
        treatment_label="prior U[0,1) (random)", control_label="the recipe's prior U(-1,1)",
        treatment={"prior": "random"}, control={},
        primary=(
            Endpoint("diversity", "difference", "lower", 0.05,
                     "'all images basically identical', measured directly: the samples' mean pairwise distance "
                     "in the evaluator's feature space relative to the real data's (1 = as varied as the test set, "
                     "0 = one image repeated); SESOI 0.05"),
            Endpoint("classes_covered", "difference", "lower", 1.0,
                     "identical images show one digit: classes the classifier finds among the samples; SESOI "
                     "one class"),
            LATE_FID_TREND,
        ),
        combine="all",
        secondary=(Endpoint("recall", "difference", "lower", 0.05), Endpoint("coverage", "difference", "lower", 0.05),
                   fid_ratio("higher")),
        references=(("prior N(0,1) (modern reference)", {"prior": "normal"}),),
    ),
    Observation(
        id="freeze_d", title="D updated by G's optimizer during the G step",
        claim=("Training G without freezing D (G's optimizer also owns D's variables) damages D and "
               "the networks never converge."),
        source=BASIC_POST, recipes=("basic_tutorial",), factor="freeze_d",
        treatment_label="G's optimizer also moves D (freeze_d=false)", control_label="D frozen in the G step",
        treatment={"freeze_d": False}, control={},
        primary=(
            Endpoint("d_heldout_sep", "difference", "lower", 0.05,
                     "'damages D', measured on D: mean D(x) on held-out test images minus mean D(G(z)) over the "
                     "last 10% of logged steps, how well D still tells unseen real digits from fakes; SESOI 0.05"),
            LATE_FID_TREND,
        ),
        combine="all",
        secondary=(fid_ratio("higher", math.log(1.25)), DIVERGENCE, Endpoint("classes_covered", "difference", "lower", 1.0)),
        notes=("A wrecked run may diverge: it has no end scores, so its seed leaves the paired endpoints and the "
               "training-failure rate (secondary) shows it."),
    ),
    Observation(
        id="schedule", title="D:G schedule 1:2 vs 1:1",
        claim=("Running G's optimizer twice per D step keeps d_loss from going to zero; when one "
               "network dominates, step the weaker one more."),
        source=f"{DCGAN_WALK}; {BASIC_POST}", recipes=("basic_tutorial", "dcgan_carpedm20"),
        factor="schedule", treatment_label="the recipe's 1:2", control_label="1:1",
        treatment={}, control={"g_steps": 1},
        primary=(Endpoint("d_collapse_frac", "difference", "lower", 0.10,
                          "share of logged steps in the second half of training with D loss < 0.1; "
                          "SESOI 10 percentage points"),),
        secondary=(Endpoint("final_d_gap", "difference", "lower", 0.05), fid_ratio("lower")),
        references=(("2:1 (D twice)", {"d_steps": 2, "g_steps": 1}),),
    ),
    Observation(
        id="g_loss", title="Minimax vs non-saturating G loss",
        claim="Maximising log D(G(z)) trains better than minimising log(1 - D(G(z))).",
        source=VANILLA_POST, recipes=("vanilla_mnist",), factor="g_loss",
        treatment_label="minimax G loss", control_label="the recipe's non-saturating G loss",
        treatment={"g_loss": "minimax"}, control={},
        primary=(fid_ratio("higher"),),
        secondary=(Endpoint("fid_mid", "log_ratio", "higher", LOG_10PCT),
                   Endpoint("classes_covered", "difference", "lower", 1.0)),
    ),
    Observation(
        id="smoothing", title="One-sided label smoothing 0.9",
        claim="One-sided label smoothing (real label 0.9) helps D generalise.",
        source=NOTEBOOK, recipes=("mnist_notebook",), factor="label_smoothing",
        treatment_label="the recipe's real label 0.9", control_label="real label 1.0",
        treatment={}, control={"label_smoothing": 1.0},
        primary=(Endpoint("d_probe_gap", "difference", "lower", 0.02,
                          "mean D(x) on fixed training images minus on held-out test images, end of "
                          "training; SESOI 0.02. Smoothing caps D(x) at 0.9, which may shrink gaps "
                          "by itself: read with the secondary FID"),),
        secondary=(fid_ratio("lower"),),
    ),
    Observation(
        id="leaky_relu", title="Leaky ReLU vs ReLU hidden units",
        claim="Leaky ReLU hidden units let gradients flow better than ReLU.",
        source=NOTEBOOK, recipes=("mnist_notebook",), factor="hidden_activation",
        treatment_label="the recipe's leaky ReLU", control_label="ReLU",
        treatment={}, control={"hidden_activation": "relu"},
        primary=(Endpoint("g_grad_late", "difference", "higher", math.log(1.25),
                          "'lets gradients flow', measured: the size of the gradient of G's loss that reaches G's "
                          "first layer (log of its norm on a fixed noise batch, mean over the second half of "
                          "training); SESOI 25% larger"),
                 fid_ratio("lower")),
        combine="any",
        secondary=(Endpoint("g_dead_late", "difference", "lower", 0.05,
                            "share of G's hidden units off for every probe sample (with ReLU no gradient passes "
                            "them)"),
                   Endpoint("classes_covered", "difference", "higher", 1.0)),
        notes=("The mechanism (gradient at G's first layer) or its benefit (FID) reproduces the claim; the "
               "gradient is computed from the run's weights in numpy (runkit.gradient_flow), the same for every "
               "impl."),
    ),
    Observation(
        id="tanh_output", title="tanh output, data in [-1,1] vs sigmoid, [0,1]",
        claim="A tanh output (data rescaled to [-1,1]) works better than a sigmoid output.",
        source=NOTEBOOK, recipes=("mnist_notebook",), factor="output",
        treatment_label="the recipe's tanh", control_label="sigmoid",
        treatment={}, control={"output": "sigmoid"},
        primary=(fid_ratio("lower"),),
        secondary=(Endpoint("classes_covered", "difference", "higher", 1.0),),
    ),
    Observation(
        id="dcgan_vs_basic", title="DCGAN vs BasicGAN",
        claim="DCGAN gives cleaner images than BasicGAN on the same data with the same budget.",
        source=DCGAN_POST, recipes=("dcgan_blog",), factor="model",
        treatment_label="DCGAN", control_label="BasicGAN",
        treatment={}, control={"model": "basic"},
        # "cleaner" images: fidelity (precision) co-primary with FID; both must show it
        primary=(fid_ratio("lower"), Endpoint(
            "precision", "difference", "higher", 0.05,
            "'cleaner' images are fidelity: the share of samples inside the real data's feature manifold "
            "(k-NN precision); SESOI 0.05")), combine="all",
        secondary=(Endpoint("classes_covered", "difference", "higher", 1.0),),
        notes=("Both arms are scored against the same reference: on MNIST-family data the 28 px test set "
               "(the DCGAN runs at 32 px, an exact pad/crop); on CelebA the 64 px test set, both models at 64 px."),
    ),
    Observation(
        id="dcgan_adam", title="DCGAN Adam 2e-4 / 0.5 vs default Adam (DCGAN post)",
        claim=("Following the DCGAN paper, Adam with learning rate 2e-4 and beta1 0.5 trains the DCGAN better "
               "than Adam's defaults (1e-3, 0.9)."),
        source=DCGAN_POST, **ADAM_EXPERIMENT,
        primary=(fid_ratio("higher", why="'better' samples: FID; SESOI 10%"), DIVERGENCE), combine="any",
        secondary=(SPREAD,),
        notes=("One experiment judges two claims: this one (the DCGAN post sets 2e-4 / 0.5 'following the "
               "DCGAN paper') and adam_no_tuning (the walk-through: Adam needs no tuning). Both run on the "
               "walk-through's DCGAN recipe, whose Adam is 2e-4 / 0.5 as the post's."),
    ),
    Observation(
        id="adam_no_tuning", title="Adam without tuning (DCGAN walk-through)",
        claim=("Adam (usually) needs no manual tuning of the learning rate and momentum: Adam's defaults (1e-3, "
               "0.9) train the DCGAN about as well as the tuned 2e-4 / 0.5, FID no more than 25% worse."),
        source=DCGAN_WALK, **ADAM_EXPERIMENT,
        primary=(Endpoint("fid", "noninferiority", "higher", math.log(1.25),
                          "a non-inferiority claim: reproduced when FID worse by the margin (+25%: '(usually) "
                          "needs no tuning' is a loose claim) is ruled out, not reproduced when default Adam is "
                          "worse by at least the margin"),),
        secondary=(DIVERGENCE, SPREAD),
        notes="The same runs as dcgan_adam, read the other way: what the walk-through says of Adam.",
    ),
    Observation(
        id="dcgan_batchnorm", title="DCGAN without batch norm",
        claim="The DCGAN guidelines (batch norm in G and D) make training stable.",
        source=DCGAN_POST, recipes=("dcgan_blog",), factor="batch_norm",
        treatment_label="no batch norm", control_label="the recipe's batch norm",
        treatment={"batch_norm": False}, control={},
        primary=(DIVERGENCE, SPREAD), combine="any",
        secondary=(Endpoint("classes_covered", "difference", "lower", 1.0), fid_ratio("higher")),
        claim_is_stability=True,
    ),
    Observation(
        id="z_dim", title="Noise length 10 vs 100",
        claim="The length of the noise vector affects the training results (it is a hyperparameter).",
        source=BASIC_POST, recipes=("basic_tutorial",), factor="z_dim",
        treatment_label="z_dim 10", control_label="the recipe's z_dim 100 (the study's z_dim)",
        treatment={"z_dim": 10}, control={},
        primary=(Endpoint("fid", "log_ratio", None, LOG_10PCT,
                          "'affects the training results', in no named direction: FID either way (two-sided); "
                          "SESOI 10%"),),
        secondary=(Endpoint("diversity", "difference", None, 0.05), Endpoint("classes_covered", "difference", None, 1.0)),
        references=(("z_dim 200", {"z_dim": 200}),),
        notes=("A claim with no direction: reproduced when the FID differs by at least the SESOI either way, not "
               "reproduced when TOST rules out a 10% difference either way. The arms differ only in z_dim "
               "(G's first layer has z_dim inputs)."),
    ),
    Observation(
        id="loss_reduction", title="Mean vs summed cross-entropy",
        claim="The batch mean of the cross-entropy, rather than its sum, works better.",
        source=DCGAN_WALK, recipes=("dcgan_carpedm20",), factor="loss_reduction",
        treatment_label="summed cross-entropy", control_label="the recipe's mean (tf.reduce_mean)",
        treatment={"loss_reduction": "sum"}, control={},
        primary=(fid_ratio("higher", why="'works better': FID of the samples; SESOI 10%"), DIVERGENCE), combine="any",
        secondary=(Endpoint("classes_covered", "difference", "lower", 1.0),),
        notes=("Expect no difference: the sum is batch_size x the mean, and Adam divides the gradient by the root "
               "of its second moment, so the scale cancels but for Adam's eps (1e-8). The walk-through's sentence "
               "may also mean cross-entropy rather than a sum of D's outputs; its code takes tf.reduce_mean."),
    ),
    Observation(
        id="loss_form", title="The posts' log(sigmoid) losses vs the logits form",
        claim=("Losses written as log(D(x)) with D(x) = sigmoid(logit), as the posts' code writes them, train the "
               "GAN as well as the numerically stable logits (softplus) form: FID no more than 25% worse."),
        source=f"{VANILLA_POST}; {DCGAN_POST}", recipes=("vanilla_mnist", "dcgan_blog"), factor="loss_form",
        treatment_label="log(sigmoid(.)) in float32 (the posts' code)", control_label="logits form (softplus)",
        treatment={"loss_form": "probability"}, control={},
        primary=(Endpoint("fid", "noninferiority", "higher", math.log(1.25),
                          "the posts' code trains with these losses: reproduced when FID worse by the margin (+25%) "
                          "is ruled out, not reproduced when the log form is worse by at least the margin"),),
        secondary=(DIVERGENCE,),
        notes=("In float32 sigmoid rounds to 1 for logits above ~17 (to 0 below ~-88), where log(1 - D) or log(D) "
               "is -inf and the run diverges (NaN): such a seed has no FID and counts in the training-failure rate "
               "(secondary). The logits form gives the same loss wherever D is not saturated."),
    ),
    Observation(
        id="dominance", title="D wider than G: step G more (1:2 vs 1:1)",
        claim=("When one network dominates (here D, four times wider), running the weaker one's optimizer more "
               "often (G twice per D step) restores the balance of the losses and gives better samples."),
        source=BASIC_POST, recipes=("basic_tutorial",), factor="schedule",
        treatment_label="D hidden 512, the recipe's 1:2", control_label="D hidden 512, 1:1",
        treatment={"d_hidden": 512}, control={"d_hidden": 512, "g_steps": 1},
        primary=(Endpoint("loss_dominance", "difference", "lower", math.log(1.25),
                          "the post's picture of domination, 'one network's loss converges to very small, the "
                          "other's is too large and may keep rising': the mean log(G loss / D loss) over the "
                          "second half of training; SESOI a 25% smaller ratio"),
                 fid_ratio("lower", why="'tuning until the best result': FID of the samples; SESOI 10%")),
        combine="all",
        secondary=(DIVERGENCE, Endpoint("classes_covered", "difference", "higher", 1.0)),
        references=(("G hidden 512, 2:1 (D stepped more)", {"g_hidden": 512, "d_steps": 2, "g_steps": 1}),
                    ("G hidden 512, 1:1", {"g_hidden": 512, "g_steps": 1})),
        baseline_arm="treatment",
        notes=("The guard checks the 1:2 arm (the recipe's schedule): a 1:1 arm crushed by its wide D is the "
               "claim's effect, not a baseline that did not train. The reference arms run the reverse (G wider, "
               "D stepped more) at study scale."),
    ),
    Observation(
        id="frameworks", title="Every impl vs the reference impls",
        claim="Matched implementations (PyTorch, TensorFlow, any added impl) are the same model.",
        source="ganbench design (the product's premise)", recipes=(), factor="impl",
        treatment_label="impl", control_label="reference impl (pytorch, tensorflow)",
        treatment={}, control={},
        primary=(Endpoint("fid", "equivalence", None, LOG_10PCT,
                          "equivalence margin fixed in advance: FID within ±10% (log-ratio ±log 1.1)"),),
        kind="equivalence",
        notes=("Per model, every impl against each reference impl: runs pair on (recipe, deviations, "
               "seed); the seed's effect is the mean log FID ratio over its arms; n = seeds."),
    ),
)

BY_ID: dict[str, Observation] = {o.id: o for o in OBSERVATIONS}


def arms_by_observation(references: bool = True) -> dict[str, list[tuple[str, dict]]]:
    """Observation id -> its arms as (recipe, deviations): treatment, control and (unless
    ``references`` is false) the descriptive reference arms, per recipe (the grid builds these;
    the frameworks comparison has no arms of its own)."""
    return {o.id: [(recipe, dev) for role, recipe, dev in o.arms()
                   if references or role in ("treatment", "control")]
            for o in OBSERVATIONS if o.kind == "difference"}
