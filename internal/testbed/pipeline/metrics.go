package pipeline

import "github.com/prometheus/client_golang/prometheus"

// MetricValue reads a counter or gauge from g: the first series named name
// whose labels, the chain label aside, hold the value label (any series
// when label is empty). found is false when there is none.
func MetricValue(g prometheus.Gatherer, name, label string) (value float64, found bool, err error) {
	families, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "chain" && lp.GetValue() == label {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true, nil
			}
			return m.GetGauge().GetValue(), true, nil
		}
	}
	return 0, false, nil
}
