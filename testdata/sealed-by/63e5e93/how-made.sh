#!/bin/bash
# How testdata/sealed-by/63e5e93 was made (2026-12-01); kept as a record,
# not run by the tests. Run in a clone at commit 63e5e93 with the local
# servers of a newer checkout copied into bin/ (kafka, versitygw) and
# devstack/dynalite/node_modules, and bin/pub built from this Go program
# (publishes raw record values, one per argument, to a topic):
#
#   cl, _ := kgo.NewClient(kgo.SeedBrokers(os.Args[1]), kgo.RequiredAcks(kgo.AllISRAcks()))
#   for _, v := range os.Args[3:] { cl.ProduceSync(ctx, &kgo.Record{Topic: os.Args[2], Value: []byte(v)}) }
set -ex
B=5 # ports 59092 (Kafka), 57070 (S3), 58000 (DynamoDB), 59101 (metrics), 58080 (ingest)
sed -i 's/Topic: "decisions", SealedTopic: "sealed"/Topic: "decisions-63e5e93", SealedTopic: "sealed"/' internal/testbed/cmd/demo/main.go
rm -rf .data-fx; go run ./internal/testbed/cmd/demo -data .data-fx -decisions 20 -overrides 4 -users 4
export AWS_ACCESS_KEY_ID=aegislocal AWS_SECRET_ACCESS_KEY=aegislocalsecret AWS_REGION=us-east-1
export AEGIS_CHAIN=demo AEGIS_TOPIC=decisions-63e5e93 AEGIS_BUCKET=aegis-audit AEGIS_TABLE=aegis-audit AEGIS_SEALED_TOPIC=sealed
export AEGIS_BROKERS=127.0.0.1:${B}9092 AEGIS_S3_ENDPOINT=http://127.0.0.1:${B}7070 AEGIS_DYNAMODB_ENDPOINT=http://127.0.0.1:${B}8000
D=$PWD/.data-fx
setsid bin/kafka -port ${B}9092 -data $D/kafka > kafka.log 2>&1 & echo $! > servers.pid
ROOT_ACCESS_KEY_ID=aegislocal ROOT_SECRET_ACCESS_KEY=aegislocalsecret setsid bin/versitygw --port 127.0.0.1:${B}7070 --health /health --quiet posix --versioning-dir $D/s3/versions $D/s3/data > s3.log 2>&1 & echo $! >> servers.pid
setsid node devstack/dynalite/serve.js --host 127.0.0.1 --port ${B}8000 --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 --path $D/dynamodb > ddb.log 2>&1 & echo $! >> servers.pid
sleep 2
A=bin/aegis; V=$D/keys/verifier.pub; S=$D/keys/signer.key   # A: that build's aegis (go build -o bin/aegis ./cmd/aegis)
sealer() { setsid $A sealer --retention 720h --batch-max-age 250ms --metrics-addr 127.0.0.1:${B}9101 "$@" > sealer-$(date +%s%N).log 2>&1 & echo $! > sealer.pid
  for i in $(seq 20); do sleep 1; curl -sf 127.0.0.1:${B}9101/readyz >/dev/null && break; done; }
sealer --signer-key-file $S --verifier-key-file $V
setsid $A indexer --group indexer-aegis-audit > indexer.log 2>&1 & echo $! > indexer.pid
printf "loginrisk 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d demo\n" > tokens
setsid $A ingest --tokens-file tokens --listen 127.0.0.1:${B}8080 > ingest.log 2>&1 & echo $! > ingest.pid
sleep 3; T='Authorization: Bearer 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d'
post() { curl -s -X POST "localhost:${B}8080/v1/$1" -H "$T" -H 'Content-Type: application/json' -d "$2"; echo; }
post decisions '{"environment":"demo","decision":{"decision_id":"old-ing-1","action":"ALLOW","confidence_score":0.92,"policy_version":"policy-2026.11","user_id":"olduser","session_id":"oldsess","metadata":{"ip_country":"DE"}}}'
post overrides '{"environment":"demo","override":{"decision_id":"old-ing-1","reviewer_id":"analyst-7","new_action":"BLOCK","reason":"confirmed account takeover"}}'
post 'decisions?durability=sealed' '{"environment":"demo","decision":{"decision_id":"old-sealed-1","action":"CHALLENGE","confidence_score":0.5,"policy_version":"policy-2026.11","user_id":"olduser","session_id":"oldsess"}}'
bin/pub 127.0.0.1:${B}9092 decisions-63e5e93 'not json at all' '{"environment":"demo","type":"decision","decision":{"decision_id":"bad-1","action":"MAYBE"}}'
$A keygen --name aegis-demo-2 --out keys2
kill $(cat sealer.pid); sleep 3
sealer --signer-key-file $S --next-signer-key-file keys2.key --verifier-key-file $V
$A rotate-key --new-verifier-key-file keys2.pub; sleep 2
bin/pub 127.0.0.1:${B}9092 decisions-63e5e93 'after rotation, still invalid'
sleep 2
R=$(grep -h 'checkpoint key handed over' sealer-*.log | python3 -c "import sys,json;print(json.loads(sys.stdin.readline())['seq'])")
printf '%s 0 %s\n%s %s -\n' "$(cat $V)" $R "$(cat keys2.pub)" $((R+1)) > keyset.txt
post decisions '{"environment":"demo","decision":{"decision_id":"old-ing-2","action":"REVIEW","confidence_score":0.3,"policy_version":"policy-2026.11","user_id":"olduser","session_id":"oldsess"}}'
sleep 2; kill $(cat sealer.pid); sleep 3
sealer --signer-key-file keys2.key --verifier-key-file keyset.txt
post overrides '{"environment":"demo","override":{"decision_id":"old-ing-2","reviewer_id":"analyst-8","new_action":"ALLOW","reason":"false positive"}}'
post 'decisions?durability=sealed' '{"environment":"demo","decision":{"decision_id":"old-sealed-2","action":"BLOCK","confidence_score":0.99,"policy_version":"policy-2026.11","user_id":"olduser","session_id":"oldsess"}}'
sleep 3; $A verify --verifier-key-file keyset.txt
kill $(cat sealer.pid) $(cat indexer.pid) $(cat ingest.pid); sleep 3; kill $(cat servers.pid)
# Then: objects/ = .data-fx/s3/data/aegis-audit/audit, keyset.txt, signer.test-only = keys2.key,
# stored.json = each file's modification time there (versitygw's LastModified), oldest first.
