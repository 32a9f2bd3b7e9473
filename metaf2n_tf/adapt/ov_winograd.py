"""Winograd F(4x4, 3x3) convolution written in an OpenVINO graph (opset ops only), for RRDBNet on AVX2 CPUs.

OpenVINO's CPU plugin convolves directly (no Winograd on AVX2); the ncnn runtime is faster mainly by Winograd
(issue #11). Here the algorithm is spelled out with Slice, MatMul and Transpose, on maps [H, W, C] (batch 1,
channels last). In one dimension, with the Toom-Cook matrices at the points 0, 1, -1, 2, -2, inf
(``B_T`` 6x6, ``G`` 6x3, ``A_T`` 4x6), four outputs of a 3-tap correlation of a 6-sample tile ``d`` are

    y = A_T [(G g) * (B_T d)]                      (6 multiplications instead of 12)

and in two dimensions, for every 6x6 input tile ``d`` at stride 4 (tile (i, j) starts at (4i, 4j) of the map
padded by 1 on top/left, and on bottom/right up to a multiple of 4 plus 1):

    V[xi, p, c] = (B_T d_{p,c} B)[xi]              input transform, per channel      [36, P, C]
    U[xi, c, k] = (G g_{k,c} G^T)[xi]              kernel transform                  [36, C, K]
    M[xi]       = V[xi] @ U[xi]                    one batched MatMul over 36 xi     [36, P, K]
    Y_{p,k}     = A_T M_{p,k} A                    output transform, 4x4 per tile    [4H', 4W', K]

with ``xi = 6 y + x`` (x: frequency along H, y: along W) and P = ceil(H/4) ceil(W/4) tiles; outputs beyond
[H, W] (odd sizes) are cropped. 2.25 multiplications per output instead of 9.

The input transform is linear per channel, so the transform of a concatenation is the concatenation of the
transforms; a dense block's conv k therefore transforms no map: it sums one MatMul per earlier feature map,

    M = sum_j V_j @ U[:, rows of map j, :]

and each map is transformed once (:meth:`WinogradConvs.conv` keeps the transforms it made). Summing per map
measured faster than concatenating the V_j (whose copy grows with every conv).

Kernels enter as OIHW graph values (constants or Parameters): ``U`` is computed in the graph (one MatMul by
the 36x9 matrix ``G (x) G`` per conv, folded at compile time for constants, recomputed per inference, a few
hundred MB of memory traffic for x4plus, for Parameters), so fed weights stay OIHW.

Float32 error against the direct convolution: about 1e-6 per conv on unit-scale maps (the points +-2 make
``A_T`` entries up to 8).
"""
import numpy as np

B_T = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], np.float64)
ALPHA, TILE = 6, 4  # input tile side, output tile side


def kernel_matrix():
    """[36, 9]: ``U[6y + x] = sum_rs G[x, r] G[y, s] g[r, s]`` for a 3x3 kernel ``g`` flattened as 3r + s."""
    return np.einsum("xr,ys->yxrs", G, G).reshape(ALPHA * ALPHA, 9).astype(np.float32)


def output_matrix():
    """[16, 36]: ``Y[4i + j] = sum_xy A_T[i, x] A_T[j, y] M[6y + x]`` (i: row, j: column in the output tile)."""
    return np.einsum("ix,jy->ijyx", A_T, A_T).reshape(TILE * TILE, ALPHA * ALPHA).astype(np.float32)


class WinogradConvs:
    """3x3 convs (stride 1, zero padding 1, bias) on maps [H, W, C] by F(4x4, 3x3), inside one graph; the
    layout half of ``ov_rrdbnet.build_rrdbnet_ov`` (as its ``DirectConvs``).

    One instance per graph: it keeps the input transform of every map it convolved (keyed by the node, held
    alive here), so that later convs of the same map reuse it.

    Args:
        ops: the opset module (``openvino.opset13``).
    """

    def __init__(self, ops):
        self.ops = ops
        self._transforms = {}  # id(map node) -> (map node, V [36, P, C])

    spatial_axes = (0, 1)

    def enter(self, lq):
        """[1, H, W, 3] input -> the map layout [H, W, 3]."""
        return self.ops.squeeze(lq, self._i64([0]))

    def leave(self, y):
        """A map [H, W, C] -> [1, H, W, C] output."""
        return self.ops.unsqueeze(y, self._i64([0]))

    def _i64(self, values):
        return self.ops.constant(np.asarray(values, np.int64))

    @staticmethod
    def _shape(x):
        return list(x.get_output_partial_shape(0).to_shape())

    def _tiles(self, x, axis, count):
        """[a, ...]: the ``ALPHA`` strided slices ``x[r : r + 4 (count - 1) + 1 : 4]`` along ``axis`` (r < ALPHA),
        stacked in front, each times ``B_T``: ``out[x] = sum_r B_T[x, r] slice_r``."""
        ops = self.ops
        parts = [ops.unsqueeze(ops.slice(x, self._i64([r]), self._i64([r + TILE * (count - 1) + 1]),
                                         self._i64([TILE]), self._i64([axis])), self._i64([0]))
                 for r in range(ALPHA)]
        stacked = ops.concat(parts, 0)
        shape = self._shape(stacked)
        flat = ops.matmul(ops.constant(B_T.astype(np.float32)), ops.reshape(stacked, self._i64([ALPHA, -1]), False),
                          False, False)
        return ops.reshape(flat, self._i64(shape), False)

    def transform_input(self, x):
        """Map [H, W, C] -> V [36, P, C] (P = ceil(H/4) ceil(W/4) tiles, row-major): rows then columns."""
        height, width, channels = self._shape(x)
        rows, cols = -(-height // TILE), -(-width // TILE)
        padded = self.ops.pad(x, self._i64([1, 1, 0]), self._i64([rows * TILE - height + 1, cols * TILE - width + 1, 0]),
                              "constant")
        v = self._tiles(padded, 0, rows)  # [6 (x), rows, W + pad, C]
        v = self._tiles(v, 2, cols)  # [6 (y), 6 (x), rows, cols, C]
        return self.ops.reshape(v, self._i64([ALPHA * ALPHA, rows * cols, channels]), False)

    def transform_kernel(self, kernel):
        """OIHW kernel [K, C, 3, 3] (graph value) -> U [36, C, K]."""
        ops = self.ops
        out_ch, in_ch = self._shape(kernel)[:2]
        flat = ops.matmul(ops.reshape(kernel, self._i64([out_ch * in_ch, 9]), False), ops.constant(kernel_matrix()),
                          False, True)  # [K*C, 36]
        return ops.transpose(ops.reshape(flat, self._i64([out_ch, in_ch, ALPHA * ALPHA]), False), self._i64([2, 1, 0]))

    def transform_output(self, m, height, width):
        """M [36, P, K] -> map [height, width, K]: 4x4 outputs per tile, tiles back in place, cropped."""
        ops = self.ops
        _, _, out_ch = self._shape(m)
        rows, cols = -(-height // TILE), -(-width // TILE)
        y = ops.matmul(ops.constant(output_matrix()), ops.reshape(m, self._i64([ALPHA * ALPHA, -1]), False),
                       False, False)  # [16, P*K]
        y = ops.reshape(y, self._i64([TILE, TILE, rows, cols, out_ch]), False)
        y = ops.transpose(y, self._i64([2, 0, 3, 1, 4]))
        y = ops.reshape(y, self._i64([rows * TILE, cols * TILE, out_ch]), False)
        if rows * TILE != height or cols * TILE != width:
            y = ops.slice(y, self._i64([0, 0]), self._i64([height, width]), self._i64([1, 1]), self._i64([0, 1]))
        return y

    def _input(self, x):
        """V of map ``x``, made once per map."""
        if id(x) not in self._transforms:
            self._transforms[id(x)] = (x, self.transform_input(x))
        return self._transforms[id(x)][1]

    def conv(self, maps, kernel, bias):
        """The conv of the channel concatenation of ``maps`` ([H, W, C_j] each): [H, W, K].

        ``kernel``: OIHW [K, sum C_j, 3, 3]; ``bias``: [1, K, 1, 1] (the direct graph's shapes), graph values.
        """
        ops = self.ops
        height, width = self._shape(maps[0])[:2]
        u = self.transform_kernel(kernel)
        m, start = None, 0
        for x in maps:
            stop = start + self._shape(x)[2]
            part = ops.matmul(self._input(x), ops.slice(u, self._i64([start]), self._i64([stop]), self._i64([1]),
                                                         self._i64([1])), False, False)
            m = part if m is None else ops.add(m, part)
            start = stop
        y = self.transform_output(m, height, width)
        return ops.add(y, ops.reshape(bias, self._i64([1, 1, -1]), False))
