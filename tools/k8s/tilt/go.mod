// Wrapper module: builds Tilt (only to evaluate the Tiltfile in tests: `tilt alpha
// tiltfile-result`) from github.com/tilt-dev/tilt at a pinned release. Tilt's go.mod carries
// `replace` directives, which Go ignores in dependencies, so `go install ...@v` fails; this
// module requires Tilt and repeats those replaces. go.sum is Tilt's own plus Tilt's module hash.
module agent-actors/tools/k8s/tilt

go 1.23.0

require github.com/tilt-dev/tilt v0.34.0

// Copied from github.com/tilt-dev/tilt v0.34.0 go.mod.
replace (
	github.com/emicklei/go-restful/v3 => github.com/emicklei/go-restful/v3 v3.9.0
	github.com/pkg/browser => github.com/tilt-dev/browser v0.0.1
	k8s.io/apimachinery => github.com/tilt-dev/apimachinery v0.32.0-tilt-20250103
)
