package producer

import (
	"context"
	"testing"
)

func TestNewRefusesIncompleteConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Environment: "prod"},
		{Brokers: []string{"127.0.0.1:1"}},
	} {
		if p, err := New(context.Background(), cfg); err == nil {
			p.Close()
			t.Errorf("config %+v accepted", cfg)
		}
	}
}
