"""The Streamlit app of the reference design's Streamlit-on-Slurm job: shows where it runs and a small computation.

Started by streamlit.sbatch on a compute node; the operator opens it through an SSH tunnel via the bastion.
"""

import os
import socket

import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="hpcstack: Streamlit on Slurm")
st.title("Streamlit on Slurm")
st.write(
    f"Job {os.environ.get('SLURM_JOB_ID', '?')} on node {socket.gethostname()}, "
    f"partition {os.environ.get('SLURM_JOB_PARTITION', '?')}, {os.cpu_count()} CPUs visible."
)

steps = st.slider("Random-walk steps", min_value=10, max_value=10_000, value=1_000)
walk = pd.DataFrame({"position": np.random.default_rng().standard_normal(steps).cumsum()})
st.line_chart(walk)
