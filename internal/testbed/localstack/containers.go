//go:build containers

package localstack

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Container images of the containers path (make test-containers). Kafka uses
// the image the testcontainers Kafka module documents for KRaft.
const (
	kafkaImage  = "confluentinc/confluent-local:7.5.0"
	minioImage  = "minio/minio:RELEASE.2025-04-22T22-12-26Z"
	dynamoImage = "amazon/dynamodb-local:2.5.4"
)

// startContainers starts Kafka, MinIO (S3 with Object Lock) and DynamoDB
// Local through testcontainers-go. It needs a Docker engine. S3DataDir is
// empty and Kafka is nil: tests that tamper with files on disk or inject
// broker faults need the native stack.
func startContainers(ctx context.Context) (_ *Stack, err error) {
	s := &Stack{}
	s.setCredentials()
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// The sealer's 3 s session timeout (fast standby takeover) needs a
	// broker that allows it: Kafka's default minimum is 6 s, and the
	// sealer refuses a broker that refuses its timeout (found by review:
	// the containers path has not run on these machines, which have no
	// Docker engine).
	kc, err := kafka.Run(ctx, kafkaImage, kafka.WithClusterID("aegis-test"),
		testcontainers.WithEnv(map[string]string{"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS": "1000"}))
	if kc != nil {
		s.closers = append(s.closers, func() { _ = testcontainers.TerminateContainer(kc) })
	}
	if err != nil {
		return nil, fmt.Errorf("kafka container: %w", err)
	}
	brokers, err := kc.Brokers(ctx)
	if err != nil {
		return nil, err
	}
	s.Brokers, s.KafkaAddr = brokers, brokers[0]

	minio, err := testcontainers.Run(ctx, minioImage,
		testcontainers.WithEnv(map[string]string{"MINIO_ROOT_USER": AccessKey, "MINIO_ROOT_PASSWORD": SecretKey}),
		testcontainers.WithCmd("server", "/data"),
		testcontainers.WithExposedPorts("9000/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/minio/health/live").WithPort("9000/tcp")),
	)
	if minio != nil {
		s.closers = append(s.closers, func() { _ = testcontainers.TerminateContainer(minio) })
	}
	if err != nil {
		return nil, fmt.Errorf("minio container: %w", err)
	}
	if s.S3Endpoint, err = minio.PortEndpoint(ctx, "9000/tcp", "http"); err != nil {
		return nil, err
	}

	dynamo, err := testcontainers.Run(ctx, dynamoImage,
		testcontainers.WithCmd("-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb"),
		testcontainers.WithExposedPorts("8000/tcp"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("8000/tcp")),
	)
	if dynamo != nil {
		s.closers = append(s.closers, func() { _ = testcontainers.TerminateContainer(dynamo) })
	}
	if err != nil {
		return nil, fmt.Errorf("dynamodb container: %w", err)
	}
	if s.DynamoEndpoint, err = dynamo.PortEndpoint(ctx, "8000/tcp", "http"); err != nil {
		return nil, err
	}
	return s, nil
}
