package topics

// Decisions is the default decisions topic of a chain. Each chain has its
// own: a sealer reading a topic shared with other chains would seal their
// events as INVALID entries of its own chain.
func Decisions(chain string) string { return "aegis.decisions." + chain }
