"""Which face model and evidence model a search may use: the model gate and the recorded
acceptances it reads."""
