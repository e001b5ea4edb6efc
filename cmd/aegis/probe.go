package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aegisai/audit/internal/platform/capool"
)

func init() {
	roles["aegis health"] = roleSettings{Offline: true}
}

// healthCommand asks a role's health endpoint and exits 0 only on 200: a
// container health check for images without a shell or curl (the aegis
// image is distroless), as docker-compose.yml uses it.
func (c *common) healthCommand() *cobra.Command {
	var timeout time.Duration
	var caFile, serverName string
	cmd := &cobra.Command{
		Use:   "health URL",
		Short: "Exit 0 if URL (a role's /readyz or /healthz) answers 200: a container health check",
		Args:  oneArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("URL %q: want http(s)://host:port/path", args[0])
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return err
			}
			client := http.DefaultClient
			if caFile != "" || serverName != "" {
				cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
				if caFile != "" {
					var err error
					if cfg.RootCAs, err = capool.Load("--ca-file", caFile); err != nil {
						return err
					}
				}
				client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			}
			resp, err := client.Do(req)
			if err != nil {
				hint := ""
				switch msg := err.Error(); {
				case strings.Contains(msg, "certificate signed by unknown authority"):
					hint = " (--ca-file names the CA that signed the service's certificate)"
				case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "certificate is not valid for"):
					hint = " (--server-name gives the name the certificate carries)"
				case strings.Contains(msg, "certificate required"):
					hint = " (the service requires client certificates on this address: ask its --metrics-addr /readyz)"
				}
				return fmt.Errorf("%s: %w%s", u, err, hint)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s: %s", u, resp.Status, body)
			}
			fmt.Fprintf(c.stdout, "%s: %s\n", u, resp.Status)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM CA bundle an https URL's certificate is checked against (empty: the system's roots)")
	cmd.Flags().StringVar(&serverName, "server-name", "", "name an https URL's certificate must carry (empty: the URL's host), e.g. the service's name when asking 127.0.0.1")
	return cmd
}
