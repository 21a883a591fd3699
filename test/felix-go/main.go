// felix-go: a Felix stand-in written with grpc-go, the gRPC stack Felix uses, so that the gateway's
// PolicySync client is tested against the real server implementation and not only against grpc-js.
// It serves felix.PolicySync/Sync from our proto/felixbackend.proto (generated with protoc-gen-go and
// protoc-gen-go-grpc at build time, see test/lab/felix-go.ts) on a Unix socket, with grpc-go's default
// server options as Felix has them, unless -min-ping-interval shortens the keepalive enforcement.
//
// Script (JSON, -script FILE): {"routes": [RouteUpdate...], "vteps": [VXLANTunnelEndpointUpdate...]}
// with the .proto's field names. Every new stream gets the VTEPs and routes, then in_sync, then live
// changes. Signals: SIGHUP re-reads the script and sends open streams the differences (updates for new
// or changed entries, removals for gone ones); SIGUSR1 sends every open stream one message larger than
// 4 MiB; SIGTERM stops at once (as a killed Felix: connections close without a status).
// One JSON line per event on stdout: listening, stream, stream_ended, reloaded, oversize_sent.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	pb "egwfelix/felixpb"
)

type script struct {
	Routes []map[string]interface{} `json:"routes"`
	Vteps  []map[string]interface{} `json:"vteps"`
}

// desired is the script as wire messages, keyed by route dst and VTEP node.
type desired struct {
	routes map[string]*pb.RouteUpdate
	vteps  map[string]*pb.VXLANTunnelEndpointUpdate
}

func say(event map[string]interface{}) {
	b, _ := json.Marshal(event)
	fmt.Println(string(b))
}

func str(m map[string]interface{}, k string) string {
	if v, ok := m[k].(string); ok {
		return v
	}
	return ""
}

func num(m map[string]interface{}, k string) int32 {
	if v, ok := m[k].(float64); ok {
		return int32(v)
	}
	return 0
}

func flag_(m map[string]interface{}, k string) bool {
	v, _ := m[k].(bool)
	return v
}

func load(path string) (desired, error) {
	d := desired{routes: map[string]*pb.RouteUpdate{}, vteps: map[string]*pb.VXLANTunnelEndpointUpdate{}}
	raw, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	var s script
	if err := json.Unmarshal(raw, &s); err != nil {
		return d, err
	}
	for _, r := range s.Routes {
		u := &pb.RouteUpdate{
			Type:          pb.RouteType(num(r, "type")),
			IpPoolType:    pb.IPPoolType(num(r, "ip_pool_type")),
			Dst:           str(r, "dst"),
			DstNodeName:   str(r, "dst_node_name"),
			DstNodeIp:     str(r, "dst_node_ip"),
			SameSubnet:    flag_(r, "same_subnet"),
			NatOutgoing:   flag_(r, "nat_outgoing"),
			LocalWorkload: flag_(r, "local_workload"),
			Borrowed:      flag_(r, "borrowed"),
			Types:         num(r, "types"),
		}
		if t, ok := r["tunnel_type"].(map[string]interface{}); ok {
			u.TunnelType = &pb.TunnelType{Ipip: flag_(t, "ipip"), Vxlan: flag_(t, "vxlan"), Wireguard: flag_(t, "wireguard")}
		}
		d.routes[u.Dst] = u
	}
	for _, v := range s.Vteps {
		u := &pb.VXLANTunnelEndpointUpdate{
			Node: str(v, "node"), Mac: str(v, "mac"), Ipv4Addr: str(v, "ipv4_addr"), ParentDeviceIp: str(v, "parent_device_ip"),
			MacV6: str(v, "mac_v6"), Ipv6Addr: str(v, "ipv6_addr"), ParentDeviceIpv6: str(v, "parent_device_ipv6"),
		}
		d.vteps[u.Node] = u
	}
	return d, nil
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type stream struct {
	id  int
	out chan *pb.ToDataplane
}

type felix struct {
	pb.UnimplementedPolicySyncServer
	mu      sync.Mutex
	state   desired
	streams map[int]*stream
	next    int
}

func (f *felix) snapshot() []*pb.ToDataplane {
	var msgs []*pb.ToDataplane
	for _, k := range sortedKeys(f.state.vteps) {
		msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_VtepUpdate{VtepUpdate: f.state.vteps[k]}})
	}
	for _, k := range sortedKeys(f.state.routes) {
		msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_RouteUpdate{RouteUpdate: f.state.routes[k]}})
	}
	return append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_InSync{InSync: &pb.InSync{}}})
}

func (f *felix) Sync(req *pb.SyncRequest, srv pb.PolicySync_SyncServer) error {
	f.mu.Lock()
	f.next++
	s := &stream{id: f.next, out: make(chan *pb.ToDataplane, 1<<20)}
	f.streams[s.id] = s
	snap := f.snapshot()
	f.mu.Unlock()
	say(map[string]interface{}{"event": "stream", "stream": s.id, "at": float64(time.Now().UnixNano()) / 1e6, "subscription_type": req.SubscriptionType,
		"supports_ipv6_route_updates": req.SupportsIpv6RouteUpdates})
	defer func() {
		f.mu.Lock()
		delete(f.streams, s.id)
		f.mu.Unlock()
		say(map[string]interface{}{"event": "stream_ended", "stream": s.id})
	}()
	for _, m := range snap {
		if err := srv.Send(m); err != nil {
			return err
		}
	}
	for {
		select {
		case m := <-s.out:
			if err := srv.Send(m); err != nil {
				return err
			}
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
	}
}

func (f *felix) broadcast(msgs []*pb.ToDataplane) {
	for _, s := range f.streams {
		for _, m := range msgs {
			s.out <- m
		}
	}
}

func (f *felix) reload(path string) {
	next, err := load(path)
	if err != nil {
		say(map[string]interface{}{"event": "reload_failed", "error": err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var msgs []*pb.ToDataplane
	for _, k := range sortedKeys(next.vteps) {
		if old, ok := f.state.vteps[k]; !ok || !proto.Equal(old, next.vteps[k]) {
			msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_VtepUpdate{VtepUpdate: next.vteps[k]}})
		}
	}
	for _, k := range sortedKeys(next.routes) {
		if old, ok := f.state.routes[k]; !ok || !proto.Equal(old, next.routes[k]) {
			msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_RouteUpdate{RouteUpdate: next.routes[k]}})
		}
	}
	for _, k := range sortedKeys(f.state.routes) {
		if _, ok := next.routes[k]; !ok {
			msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_RouteRemove{RouteRemove: &pb.RouteRemove{Dst: k}}})
		}
	}
	for _, k := range sortedKeys(f.state.vteps) {
		if _, ok := next.vteps[k]; !ok {
			msgs = append(msgs, &pb.ToDataplane{Payload: &pb.ToDataplane_VtepRemove{VtepRemove: &pb.VXLANTunnelEndpointRemove{Node: k}}})
		}
	}
	f.state = next
	f.broadcast(msgs)
	say(map[string]interface{}{"event": "reloaded", "routes": len(next.routes), "vteps": len(next.vteps), "sent": len(msgs)})
}

func main() {
	socket := flag.String("socket", "", "Unix socket path to serve on")
	scriptPath := flag.String("script", "", "JSON file with the routes and VTEPs to serve")
	minPing := flag.Duration("min-ping-interval", 0, "keepalive enforcement MinTime (0: grpc-go's default, 5m, as Felix)")
	flag.Parse()
	if *socket == "" || *scriptPath == "" {
		fmt.Fprintln(os.Stderr, "usage: felix-go -socket PATH -script FILE [-min-ping-interval D]")
		os.Exit(2)
	}
	state, err := load(*scriptPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "felix-go:", err)
		os.Exit(1)
	}
	_ = os.Remove(*socket)
	lis, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "felix-go:", err)
		os.Exit(1)
	}
	var opts []grpc.ServerOption
	if *minPing > 0 {
		// Only MinTime differs from grpc-go's default policy; PermitWithoutStream stays false.
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: *minPing}))
	}
	server := grpc.NewServer(opts...)
	f := &felix{state: state, streams: map[int]*stream{}}
	pb.RegisterPolicySyncServer(server, f)

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range signals {
			switch sig {
			case syscall.SIGHUP:
				f.reload(*scriptPath)
			case syscall.SIGUSR1:
				big := &pb.ToDataplane{Payload: &pb.ToDataplane_RouteUpdate{RouteUpdate: &pb.RouteUpdate{
					Type: pb.RouteType_REMOTE_WORKLOAD, Dst: "100.64.99.0/26", DstNodeName: strings.Repeat("n", 4*1024*1024+1)}}}
				f.mu.Lock()
				f.broadcast([]*pb.ToDataplane{big})
				n := len(f.streams)
				f.mu.Unlock()
				say(map[string]interface{}{"event": "oversize_sent", "bytes": proto.Size(big), "streams": n})
			default:
				// As a killed Felix: no GOAWAY, no status; the connections just close.
				say(map[string]interface{}{"event": "stopping"})
				server.Stop()
				os.Exit(0)
			}
		}
	}()
	say(map[string]interface{}{"event": "listening", "socket": *socket})
	if err := server.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "felix-go:", err)
		os.Exit(1)
	}
}
