// Command cert-manager-controller runs cert-manager's controllers against the
// API server of a kubeconfig: by default the same set as cert-manager's own
// controller (issuers, clusterissuers, the certificates controllers, the
// certificaterequests approver and signers, ingress-shim, ACME orders and
// challenges).
//
// It stands in for cert-manager's cmd/controller, whose module the Go module
// proxy cannot serve. Its configuration is cert-manager's own defaulted
// ControllerConfiguration; only the flags below change it, and they carry
// cmd/controller's names except --healthz-listen-address (there the hidden
// --internal-healthz-listen-address). There is no leader election: run one
// instance per cluster. Of the issuer types, SelfSigned and CA are compiled in.
//
// The build script copies this file into a generated module whose path lies
// under github.com/cert-manager/cert-manager/, so that the internal
// configuration packages may be imported.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	// Imports every controller package, which registers itself with
	// controller.Known(), and names the default set.
	configdefaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Each import registers its issuer type with the issuers controllers.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager-controller: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
}

// run parses the flags and runs the controllers until SIGINT or SIGTERM.
func run() error {
	cfg, err := defaultConfiguration()
	if err != nil {
		return err
	}
	flags := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	flags.StringVar(&cfg.KubeConfig, "kubeconfig", cfg.KubeConfig, "kubeconfig of the API server (without it: in-cluster configuration; $KUBECONFIG is not read)")
	flags.StringVar(&cfg.ClusterResourceNamespace, "cluster-resource-namespace", cfg.ClusterResourceNamespace,
		"namespace of the Secrets that ClusterIssuers refer to (the CA issuer's key pair)")
	flags.StringVar(&cfg.MetricsListenAddress, "metrics-listen-address", "127.0.0.1:9402", "host:port of the Prometheus metrics endpoint")
	flags.StringVar(&cfg.HealthzListenAddress, "healthz-listen-address", "127.0.0.1:9403", "host:port of the /livez endpoint")
	flags.IntVar(&cfg.NumberOfConcurrentWorkers, "concurrent-workers", cfg.NumberOfConcurrentWorkers, "workers per controller")
	flags.StringSliceVar(&cfg.Controllers, "controllers", cfg.Controllers,
		"controllers to run: '*' is the default set, 'foo' adds foo, '-foo' removes it")
	logf.AddFlagsNonDeprecated(&cfg.Logging, flags)
	if err := flags.Parse(os.Args[1:]); errors.Is(err, pflag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		return fmt.Errorf("logging flags: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runControllers(logf.NewContext(ctx, logf.Log, "cert-manager-controller"), cfg)
}

// defaultConfiguration is cert-manager's v1alpha1 ControllerConfiguration with
// its defaults applied, converted to the internal type the controllers read.
func defaultConfiguration() (*config.ControllerConfiguration, error) {
	scheme, _, err := configscheme.NewSchemeAndCodecs()
	if err != nil {
		return nil, fmt.Errorf("controller configuration scheme: %w", err)
	}
	versioned := &configv1alpha1.ControllerConfiguration{}
	scheme.Default(versioned)
	cfg := &config.ControllerConfiguration{}
	if err := scheme.Convert(versioned, cfg, nil); err != nil {
		return nil, fmt.Errorf("defaulting the controller configuration: %w", err)
	}
	return cfg, nil
}

// enabledControllers reads cmd/controller's --controllers syntax: "*" is
// cert-manager's default set, "foo" adds a controller and "-foo" removes one
// (removals alone imply "*"). The names come back sorted.
func enabledControllers(spec []string) ([]string, error) {
	enabled := map[string]bool{}
	var disabled []string
	for _, name := range spec {
		switch {
		case name == "*":
			for _, d := range configdefaults.DefaultEnabledControllers {
				enabled[d] = true
			}
		case strings.HasPrefix(name, "-"):
			disabled = append(disabled, strings.TrimPrefix(name, "-"))
		default:
			enabled[name] = true
		}
	}
	if len(enabled) == 0 {
		for _, d := range configdefaults.DefaultEnabledControllers {
			enabled[d] = true
		}
	}
	for _, name := range disabled {
		delete(enabled, name)
	}
	names := make([]string, 0, len(enabled))
	for name := range enabled {
		if _, known := controller.Known()[name]; !known {
			return nil, fmt.Errorf("--controllers: unknown controller %q", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// runControllers starts the enabled controllers, the shared informers and the
// metrics and health endpoints, and waits until ctx ends or one of them fails.
func runControllers(ctx context.Context, cfg *config.ControllerConfiguration) error {
	log := logf.FromContext(ctx)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		APIServerHost:      cfg.APIServerHost,
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 cfg.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: cfg.CertificateRequestMinimumBackoffDuration,
		},
	})
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	base, err := factory.Build()
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}

	names, err := enabledControllers(cfg.Controllers)
	if err != nil {
		return err
	}
	metricsListener, err := net.Listen("tcp", cfg.MetricsListenAddress)
	if err != nil {
		return fmt.Errorf("metrics listen address %s: %w", cfg.MetricsListenAddress, err)
	}
	healthzListener, err := net.Listen("tcp", cfg.HealthzListenAddress)
	if err != nil {
		return fmt.Errorf("healthz listen address %s: %w", cfg.HealthzListenAddress, err)
	}

	group, ctx := errgroup.WithContext(ctx)
	for _, name := range names {
		ctrl, err := controller.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("starting controller %s: %w", name, err)
		}
		group.Go(func() error { return ctrl.Run(cfg.NumberOfConcurrentWorkers, ctx) })
	}
	log.Info("controllers started", "controllers", names)

	// cmd/controller's collectors: the ready status and expiry of each
	// Certificate, Issuer, ClusterIssuer and ACME Challenge.
	informers := base.SharedInformerFactory
	base.Metrics.SetupACMECollector(informers.Acme().V1().Challenges().Lister())
	base.Metrics.SetupCertificateCollector(informers.Certmanager().V1().Certificates().Lister())
	base.Metrics.SetupIssuerCollector(informers.Certmanager().V1().Issuers().Lister())
	base.Metrics.SetupClusterIssuerCollector(informers.Certmanager().V1().ClusterIssuers().Lister())
	metricsServer := base.Metrics.NewServer(metricsListener)
	group.Go(func() error {
		if err := metricsServer.Serve(metricsListener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	group.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdown)
	})
	healthzServer := healthz.NewServer(cfg.LeaderElectionConfig.HealthzTimeout)
	group.Go(func() error { return healthzServer.Start(ctx, healthzListener) })
	log.Info("serving", "metrics", metricsListener.Addr().String(), "healthz", healthzListener.Addr().String())

	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	err = group.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return err
}
