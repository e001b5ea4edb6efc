package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// callCounter counts the DynamoDB calls a client makes and the items they
// carry, by operation, and the CPU time dynalite (the stack's one node
// process) and this process spend meanwhile, so a write benchmark can say
// what one indexed item costs against its baseline. dynalite is
// single-threaded and the bottleneck of every write benchmark, so its CPU
// per item is the figure that sets the ratio on a quiet machine, and it
// moves far less than wall time on a loaded one.
type callCounter struct {
	mu                 sync.Mutex
	calls              map[string]int
	items              map[string]int
	dynalite0, process float64
}

// counted returns a client like db whose calls c counts, and starts the
// CPU clocks.
func (c *callCounter) counted(db *dynamodb.Client) *dynamodb.Client {
	c.calls, c.items = map[string]int{}, map[string]int{}
	c.dynalite0, c.process = childCPU("node"), processCPU()
	return dynamodb.New(db.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchCount",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					c.add(awsmiddleware.GetOperationName(ctx), itemsOf(in.Parameters))
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
}

func (c *callCounter) add(op string, items int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	c.items[op] += items
}

// itemsOf is the number of items (or keys) a request carries.
func itemsOf(params any) int {
	n := 0
	switch in := params.(type) {
	case *dynamodb.BatchWriteItemInput:
		for _, reqs := range in.RequestItems {
			n += len(reqs)
		}
	case *dynamodb.BatchGetItemInput:
		for _, ka := range in.RequestItems {
			n += len(ka.Keys)
		}
	default:
		n = 1
	}
	return n
}

// report is one line: calls and items per operation, and per unit of work.
func (c *callCounter) report(name string, units int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ops []string
	total := 0
	for op := range c.calls {
		ops = append(ops, op)
		total += c.calls[op]
	}
	sort.Strings(ops)
	var b strings.Builder
	perItem := func(sec float64) float64 { return sec / float64(units) * 1e6 }
	fmt.Fprintf(&b, "%s: dynalite CPU %.0f µs/item, this process %.0f µs/item; %d calls for %d items (%.3f calls/item):", name,
		perItem(childCPU("node")-c.dynalite0), perItem(processCPU()-c.process), total, units, float64(total)/float64(units))
	for _, op := range ops {
		fmt.Fprintf(&b, " %s %d calls %d items;", op, c.calls[op], c.items[op])
	}
	return b.String()
}
