package query_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/replayer"
)

// Reading a decision and a user's decisions back from Go, as aegis get
// and aegis list do, and proving an answer from S3 as get --verify does
// (the README's "Reading the index" shows the same).
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // credentials and region as the AWS SDK finds them
	if err != nil {
		fmt.Println(err)
		return
	}
	rd := &query.Reader{DB: dynamodb.NewFromConfig(cfg), Table: "aegis-audit", Chain: "prod"}
	h, err := rd.Decision(ctx, "dec-7f3a") // the first page of its overrides, and its current state
	var nf *query.NotFoundError
	switch {
	case errors.As(err, &nf):
		fmt.Println(nf) // names the chain asked, and says when overrides of it are indexed
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println(h.DecisionID, h.Action, "now", h.CurrentAction)

	page, err := rd.ByUser(ctx, h.UserID, query.Range{Limit: 50}) // newest first; page.Next is the next page's cursor
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(page.Decisions), "decisions; more:", page.Next != "")

	// To prove an answer, read it with Latest (the override that set the
	// state is read however many pages of overrides there are), then
	// prove it from S3 with the chain's verifier key.
	pub, err := os.ReadFile("prod.pub")
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err = rd.DecisionPage(ctx, "dec-7f3a", query.OverridePage{Latest: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := &query.Evidence{Config: replayer.ProveConfig{S3: s3.NewFromConfig(cfg), Bucket: "aegis-audit", Chain: "prod", VerifierKey: string(pub)}}
	if err := ev.Verify(ctx, h); err != nil {
		fmt.Println("NOT VERIFIED:", err) // errors.Is(err, query.ErrIndexDiffers) when the index says otherwise
		return
	}
	fmt.Println("verified")
}
