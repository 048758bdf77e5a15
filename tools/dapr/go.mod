// Wrapper module: builds the official Dapr runtime (daprd, placement, scheduler) from
// github.com/dapr/dapr at a pinned release. dapr's own go.mod carries `replace` directives,
// which Go ignores in dependencies, so `go install github.com/dapr/dapr/cmd/daprd@v` fails;
// this module requires dapr and repeats those replaces. Bump DAPR_VERSION in build.sh and the
// require line below together, then copy the new release's replace blocks.
module agent-actors/tools/dapr

go 1.26.5

require github.com/dapr/dapr v1.18.2


// Copied from github.com/dapr/dapr v1.18.2 go.mod.
replace (
	dubbo.apache.org/dubbo-go/v3 => dubbo.apache.org/dubbo-go/v3 v3.0.3-0.20230118042253-4f159a2b38f3
	gopkg.in/couchbaselabs/gocbconnstr.v1 => github.com/couchbaselabs/gocbconnstr v1.0.5
)

replace (
	github.com/chenzhuoyu/iasm => github.com/chenzhuoyu/iasm v0.9.0
	github.com/chzyer/logex => github.com/chzyer/logex v1.2.1
	github.com/gobwas/pool => github.com/gobwas/pool v0.2.1
	github.com/toolkits/concurrent => github.com/niean/gotools v0.0.0-20151221085310-ff3f51fc5c60
)
