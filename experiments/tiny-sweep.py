_base_ = ['td-hm_res18-half_1xb32-32e_synth-128x96.py']
# `mlpose sweep tiny-sweep`: the tiny recipe's learning rate (log scale) and seed, searched by TPE
# with median pruning. The grid variant: --cfg-options sweep.sampler=grid (uses the values below).
sweep = dict(
    metric='coco/AP',
    direction='maximize',
    params={
        'optim_wrapper.optimizer.lr': dict(type='float', low=3e-4, high=1e-2, log=True, values=[1e-3, 3e-3]),
        'randomness.seed': dict(type='categorical', choices=[0, 1]),
    },
    sampler='tpe',
    pruner=dict(type='median', n_startup_trials=2, n_warmup_steps=1),
    n_trials=8,
    max_epochs=10,
    storage=None,     # None: work_dirs/sweeps/<study>.journal; or sqlite:///..., postgresql://...
    study_name=None,  # None: the config name; the same name resumes (or joins) the study
)
