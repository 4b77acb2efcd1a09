// TensorType, TensorInfo and (de)quantisation live in the unchecked Quantization target; users of
// ModelFiles see them as before.
@_exported import Quantization
