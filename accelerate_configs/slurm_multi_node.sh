#!/bin/bash
# SLURM example: 2 nodes x 8 GPUs, one launcher per node; accelerate starts 8 ranks on each.
#   sbatch accelerate_configs/slurm_multi_node.sh recipes/bert_sentiment.py --config recipes/configs/bert_sentiment/sst2_hub.yaml
#SBATCH --job-name=nlpkit
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
GPUS_PER_NODE=8
MAIN_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun --kill-on-bad-exit=1 bash -c "accelerate launch \
    --config_file accelerate_configs/multi_node.yaml \
    --num_machines $SLURM_NNODES --num_processes $((SLURM_NNODES * GPUS_PER_NODE)) \
    --machine_rank \$SLURM_NODEID --main_process_ip $MAIN_HOST --main_process_port 29500 \
    $*"
