// Everything the library's API takes or returns is usable with `import Trellis` alone: policies, ids, states,
// outcomes and the core's errors come from TrellisCore.
@_exported public import TrellisCore
