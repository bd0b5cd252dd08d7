"""Framework-neutral helpers shared by every impl (numpy only: never imports torch or tensorflow).

See ``impls/README.md`` for the contract and the submodules for details:
spec (load_spec), streams (the run's random streams), data (preparation,
minibatches, noise), params (canonical layout and initialisers), outputs
(contract writers), loop (the training driver), cli (the entry-point CLI).
"""
from .adam_scalars import bias_scalars, chunk_bias_scalars
from .cli import (deterministic_requested, parse_args, quiet_frameworks, resolve_device, run_entry,
                  run_group_entry)
from .data import (SCALE, BatchSampler, ChunkPlanner, d_noise_index, g_noise_index, load_train_images,
                   noise_batches_per_iteration, output_kind, prepare_images, sample_noise, to_uint8)
from .loop import check_finite, run_training, thread_count
from .seed_group import SeedGroupError, SeedView, run_group
from .outputs import (LOG_COLUMNS, TIMING_KEYS, LogWriter, make_grid, peak_host_mb, write_grid, write_samples,
                      write_status, write_timing)
from .params import (ParamSpec, check_state, conv_pads, conv_padding, count_params, dcgan_dims, dcgan_layout,
                     init_params,
                     load_state, param_specs, save_state, stride2_padding, truncated_normal, xavier_bound)
from .progress import progress_bar
from .spec import DATASET_GEOMETRY, SpecError, bn_batch_inference, load_spec, loss_scale, validate_spec
from .streams import STREAM_NAMES, RunStreams, make_streams

__all__ = [name for name in dir() if not name.startswith("_")]
