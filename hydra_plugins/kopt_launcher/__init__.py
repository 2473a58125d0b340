"""kopt's Hydra launcher plugin (Hydra finds launchers only under ``hydra_plugins``):
``hydra/launcher=slurm`` (configs/hydra/launcher/slurm.yaml) is slurm_launcher.SlurmLauncher."""
