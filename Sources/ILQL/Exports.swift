// `import ILQL` brings the whole public API: the model and checkpoint formats (ILQLModel), the
// kernels and buffers they are made of (ILQLKernels), and the hwloc runtime (ILQLParallel).
@_exported import ILQLKernels
@_exported import ILQLModel
@_exported import ILQLParallel
