package e2e

import (
	"syscall"
	"testing"
)

// The broker killed with SIGKILL while a sealer transaction is open (found
// by a broker-fault trial, 2026-12-01). The sealer exited "fenced by a
// newer sealer" though there was none (the broker's restart raised its
// producer epoch): it now starts a new session as a standby. And kfake,
// started again, took the open transaction as aborted without writing its
// abort markers while the sealer kept its producer id: read-committed
// readers (the indexers) skipped what the sealer published again after the
// crash; bin/kafka now writes those markers when it starts after a crash
// (internal/testbed/kfakerepair, used by bin/kafka and the embedded stack).

func TestAttack34TxnBrokerKilledBeforeTheCommitReachesIt(t *testing.T) {
	brokerKilledAt(t, keyEndTxn, false, syscall.SIGKILL)
}

func TestAttack34TxnBrokerKilledBeforeTheOffsetCommit(t *testing.T) {
	brokerKilledAt(t, keyTxnOffsetCommit, false, syscall.SIGKILL)
}

func TestAttack34TxnBrokerKilledAfterTheProduce(t *testing.T) {
	longBrokerFaults(t)
	brokerKilledAt(t, keyProduce, true, syscall.SIGKILL)
}
