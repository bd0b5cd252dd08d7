"""The sentences of the five source posts (../shared/sources/) that each claim judges, verbatim, with an English gloss. The report prints them on each claim's row."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quote:
    source: str  # the source name exactly as in observations.py (e.g. "BasicGAN MNIST post")
    file: str  # the source file name, e.g. "000_99c301425725cbe6.txt"
    text: str  # verbatim
    gloss: str  # English (= text when the source is English)


_DCGAN_WALK = ("DCGAN-tensorflow walk-through", "000_99c301425725cbe6.txt")
_NOTEBOOK = ("MNIST GAN notebook", "001_5e8a0e8f54e52469.txt")
_BASIC_POST = ("BasicGAN MNIST post", "002_6f52ae2b269d4bf7.txt")
_VANILLA_POST = ("vanilla GAN MNIST post", "003_066eea28da805678.txt")
_DCGAN_POST = ("DCGAN vs BasicGAN post", "004_5d4edd91f32cae03.txt")


# The BasicGAN post's "one network crushes the other" sentence: quoted by schedule and by dominance.
_DOMINANCE = Quote(*_BASIC_POST,
                   text=("判别器与生成器需要保持一个权衡，在learning_rate相同的情况下，若两个网络的结构不同"
                         "（如层数，或是参数数量）有可能出现一个网络被另一个网络吊打的情况，“吊打”的意思是说一个"
                         "网络的loss很容易收敛到很小，但另一个网络loss过分的大，降不下来，而且可能一直升高，"
                         "这个时候解决方法是多次运行其中一个网络的optim，调参达到最佳效果"),
                   gloss=("The discriminator and generator need to be kept in balance: with the same "
                          "learning_rate, if the two networks differ in structure (e.g. number of layers or "
                          "parameters), one network may be crushed by the other -- one network's loss easily "
                          "converges to a very small value while the other's is excessively large, will not come "
                          "down and may keep rising; the fix then is to run one of the networks' optim several "
                          "times, tuning until the best result."))


QUOTES: dict[str, tuple[Quote, ...]] = {
    "prior": (
        Quote(*_BASIC_POST,
              text=("之前一直用`np.random.random((batch_size, z_dim))`来生成噪声（训练噪声和测试噪声）,"
                    "导致生成的所有图片基本完全一样，而且一直收敛不了，后来看了很多才知道原来是random的原因，"
                    "其他作者的代码上基本都是`np.random.uniform()`换了以后就能正常生成了"),
              gloss=("I had been using `np.random.random((batch_size, z_dim))` to generate the noise (training "
                     "and test noise), which made all generated images basically identical, and it never "
                     "converged; only after reading a lot did I learn that random was the cause. Other "
                     "authors' code basically all uses `np.random.uniform()`; after switching, it generated "
                     "normally.")),
    ),
    "freeze_d": (
        Quote(*_BASIC_POST,
              text=("原来在训练生成器的时候没有冻结判别器，这样训练生成器的时候会对判别器造成破坏性的影响，"
                    "导致网络一直无法收敛这点需谨记"),
              gloss=("Originally I did not freeze the discriminator while training the generator; training "
                     "the generator then has a destructive effect on the discriminator, so the networks never "
                     "converge. Keep this in mind.")),
    ),
    "schedule": (
        Quote(*_DCGAN_WALK,
              text="Run g_optim twice to make sure that d_loss does not go to zero",
              gloss="Run g_optim twice to make sure that d_loss does not go to zero"),
        Quote(*_DCGAN_WALK,
              text="有趣的是，如果G仅更新一次，判别器的损失则不会为零。",
              gloss="Interestingly, if G is updated only once, the discriminator's loss does not go to zero."),
        _DOMINANCE,
    ),
    "g_loss": (
        Quote(*_VANILLA_POST,
              text=("Notably, the paper mentions that maximizing Tf.reduce_mean (Tf.log (D_fake)) is better "
                    "than minimizing Tf.reduce_mean (1-tf.log (D_fake))."),
              gloss=("Notably, the paper mentions that maximizing Tf.reduce_mean (Tf.log (D_fake)) is better "
                     "than minimizing Tf.reduce_mean (1-tf.log (D_fake)).")),
    ),
    "smoothing": (
        Quote(*_NOTEBOOK,
              text=("为了帮助鉴别器更好地泛化，标签从1.0减少到0.9，例如使用参数`smooth`。"
                    "这被称为标签平滑，通常与分类器一起使用以提高性能。"),
              gloss=("To help the discriminator generalize better, the labels are reduced from 1.0 to 0.9, "
                     "for example using the parameter `smooth`. This is called label smoothing, typically "
                     "used with classifiers to improve performance.")),
    ),
    "leaky_relu": (
        Quote(*_NOTEBOOK,
              text="我们应该使用一个泄漏的ReLU来让梯度顺畅地向下流过层。",
              gloss="We should use a leaky ReLU to let gradients flow smoothly backward through the layers."),
    ),
    "tanh_output": (
        Quote(*_NOTEBOOK,
              text="发现生成器的发电机输出功率为$tanh$。这意味着我们必须将MNIST图像重新缩放到-1和1之间，而不是0和1。",
              gloss=("[Garbled machine translation, literally:] It was found that the generator's "
                     "'generator output power' is $tanh$ [i.e. the generator has been found to work best "
                     "with a tanh output]. This means we must rescale the MNIST images to between -1 and 1, "
                     "instead of 0 and 1.")),
    ),
    "dcgan_vs_basic": (
        Quote(*_DCGAN_POST,
              text="使用mnist数据集训练了DCGAN和basicGAN模型。DCGAN生成比basicGAN更干净的图像。",
              gloss="DCGAN and basicGAN models were trained on the mnist dataset. DCGAN generates cleaner "
                    "images than basicGAN."),
        Quote(*_DCGAN_POST,
              text=("我们为DCGAN和BasicGAN模型训练了9个周期。DCGAN不仅可以产生清晰的图像，"
                    "还可以表现出各种特征，如眼镜，妆容和胡须。"),
              gloss=("We trained the DCGAN and BasicGAN models for 9 epochs [on CelebA]. DCGAN not only "
                     "produces clear images but also shows various features, such as glasses, makeup and "
                     "beards.")),
    ),
    "adam_no_tuning": (
        Quote(*_DCGAN_WALK,
              text="ADAM通常与SGD竞争，并且（通常）不需要手动调节学习速率，动量和其他超参数。",
              gloss=("ADAM is often competitive with SGD and (usually) does not require manual tuning of "
                     "the learning rate, momentum and other hyperparameters.")),
    ),
    "dcgan_adam": (
        Quote(*_DCGAN_POST,
              text="然而，根据该DCGAN论文的（对抗性训练的细节）中，我们设置*优化器的学习率*是*0.0002*和*bata1为0.5*。",
              gloss=("However, following the DCGAN paper's (details of adversarial training), we set the "
                     "*optimizer's learning rate* to *0.0002* and *beta1 [spelled 'bata1'] to 0.5*.")),
    ),
    "dcgan_batchnorm": (
        Quote(*_DCGAN_POST,
              text="DCGAN提出了稳定的GAN网络结构。如果您根据本文的指导设计模型，可以看出模型训练是稳定的。",
              gloss=("DCGAN proposed a stable GAN network architecture. If you design the model following "
                     "the paper's guidelines, you can see that model training is stable.")),
        Quote(*_DCGAN_POST,
              text="在生成器和判别器中使用\n> batchnorm\n> 。",
              gloss="Use batchnorm in both the generator and the discriminator."),
    ),
    "z_dim": (
        Quote(*_BASIC_POST,
              text="100是一个典型的数量，噪声的长度在一定程度上回影响训练效果，因此也是一个超参数",
              gloss=("100 is a typical number; the length of the noise affects the training results to some "
                     "degree, so it is also a hyperparameter.")),
    ),
    "loss_reduction": (
        Quote(*_DCGAN_WALK,
              text="而没有只用求和，因为这样的效果更好。",
              gloss=("[We use the cross entropy between D's predictions and the ideal discriminator outputs,] "
                     "rather than just a sum, because this works better.")),
    ),
    "loss_form": (
        Quote(*_VANILLA_POST,
              text="D_loss =-tf.reduce_mean (Tf.log (d_real) + tf.log (1.-D_fake))",
              gloss="D_loss = -tf.reduce_mean(tf.log(D_real) + tf.log(1. - D_fake)) [D_real, D_fake: sigmoid outputs]"),
        Quote(*_DCGAN_POST,
              text="d_loss = tf.reduce_mean(tf.log(d_real) + tf.log(1 - d_fake))",
              gloss="d_loss = tf.reduce_mean(tf.log(d_real) + tf.log(1 - d_fake)) [maximised; sigmoid outputs]"),
    ),
    "dominance": (
        _DOMINANCE,
    ),
}
