#!/usr/bin/env python
"""RNN/LSTM encoder-decoders vs the Transformer (lecture Units 1-2): accuracy vs distance, gradient norm vs time step,
step time vs sequence length. A few minutes on 2 CPU cores; `--quick` for a seconds-long smoke run.

    python scripts/rnn_vs_transformer.py --out runs/rnn_vs_transformer
"""

from tobigs_transformer.experiments.rnn_vs_transformer import main

if __name__ == "__main__":
    raise SystemExit(main())
