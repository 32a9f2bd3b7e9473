"""Winograd F(4x4, 3x3) convolution written in an OpenVINO graph (opset ops only), for RRDBNet on AVX2 CPUs.

OpenVINO's CPU plugin convolves directly (no Winograd on AVX2); the ncnn runtime is faster mainly by Winograd
(issue #11). Here the algorithm is spelled out with Reshape, Transpose, Slice, Concat and MatMul, on maps
[H, W, C] (batch 1, channels last). In one dimension, with the Toom-Cook matrices at the points 0, 1, -1, 2, -2, inf
(``B_T`` 6x6, ``G`` 6x3, ``A_T`` 4x6), four outputs of a 3-tap correlation of a 6-sample tile ``d`` are

    y = A_T [(G g) * (B_T d)]                      (6 multiplications instead of 12)

and in two dimensions, for every 6x6 input tile ``d`` at stride 4 (tile (i, j) starts at (4i, 4j) of the map
zero-padded by 1 on top/left and on bottom/right up to 4 (ceil(H/4) + 1) x 4 (ceil(W/4) + 1)):

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
the 36x9 matrix ``G (x) G`` and a Transpose per conv; folded at compile time for constants, recomputed per
inference for Parameters: 4x the kernel floats, about 0.3 GB written per x4plus inference), so the fed
weights stay OIHW and ``OpenVINOSR.set_weights`` is unchanged.

Float32 error against the direct graph: about 1e-6 per conv on unit-scale maps (the points +-2 put entries up to
8 in ``A_T``); whole x4plus on a [0, 1] photo 1e-5 (``benchmarks/bench_winograd.py``).
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

    spatial_axes = (0, 1)

    def __init__(self, ops):
        self.ops = ops
        self._transforms = {}  # id(map node) -> (map node, V [36, P, C])
        self._constants = {}
        self._b_t, self._kernel_matrix, self._output_matrix = (
            ops.constant(m) for m in (B_T.astype(np.float32), kernel_matrix(), output_matrix()))

    def enter(self, lq):
        """[1, H, W, 3] input -> the map layout [H, W, 3]."""
        return self.ops.squeeze(lq, self._i64([0]))

    def leave(self, y):
        """A map [H, W, C] -> [1, H, W, C] output."""
        return self.ops.unsqueeze(y, self._i64([0]))

    def _i64(self, values):
        """An int64 constant, one node per value in the graph (a network has tens of thousands of uses)."""
        key = tuple(values)
        if key not in self._constants:
            self._constants[key] = self.ops.constant(np.asarray(values, np.int64))
        return self._constants[key]

    @staticmethod
    def _shape(x):
        return list(x.get_output_partial_shape(0).to_shape())

    def _front_tiles(self, x, axis, count):
        """x [..., 4 (count + 1), ...] (``axis``) -> [6, ..., count, ...]: ``out[x, .., i, ..] = sum_r B_T[x, r]
        x[.., 4 i + r, ..]`` (r < 6). The axis is cut in groups of 4 moved in front (one Transpose), the 6 rows
        of tile i are group i and the first 2 of group i + 1 (two Slices, one Concat), then one MatMul."""
        ops = self.ops
        shape = self._shape(x)
        groups = ops.reshape(x, self._i64(shape[:axis] + [count + 1, TILE] + shape[axis + 1:]), False)
        perm = [axis + 1] + [d for d in range(len(shape) + 1) if d != axis + 1]
        front = ops.transpose(groups, self._i64(perm))  # [4, ..., count + 1, ...]
        this = ops.slice(front, self._i64([0]), self._i64([count]), self._i64([1]), self._i64([axis + 1]))
        ahead = ops.slice(front, self._i64([0, 1]), self._i64([ALPHA - TILE, count + 1]), self._i64([1, 1]),
                          self._i64([0, axis + 1]))
        stacked = ops.concat([this, ahead], 0)
        out_shape = [ALPHA] + shape[:axis] + [count] + shape[axis + 1:]
        flat = ops.matmul(self._b_t, ops.reshape(stacked, self._i64([ALPHA, -1]), False),
                          False, False)
        return ops.reshape(flat, self._i64(out_shape), False)

    def transform_input(self, x):
        """Map [H, W, C] -> V [36, P, C] (P = ceil(H/4) ceil(W/4) tiles, row-major): rows, then columns.

        With the map zero-padded to 4 (rows + 1) x 4 (cols + 1) (1 on top/left):

            R[x, i, w, c]    = sum_r B_T[x, r] X[4 i + r, w, c]
            S[y, x, i, j, c] = sum_s B_T[y, s] R[x, i, 4 j + s, c]
            V[6 y + x, cols i + j, c] = S[y, x, i, j, c]                (a reshape)
        """
        ops = self.ops
        height, width, channels = self._shape(x)
        rows, cols = -(-height // TILE), -(-width // TILE)
        padded = ops.pad(x, self._i64([1, 1, 0]), self._i64([TILE * (rows + 1) - height - 1,
                                                               TILE * (cols + 1) - width - 1, 0]), "constant")
        r = self._front_tiles(padded, 0, rows)  # [6 (x), rows, W', C]
        s = self._front_tiles(r, 2, cols)  # [6 (y), 6 (x), rows, cols, C]
        return ops.reshape(s, self._i64([ALPHA * ALPHA, rows * cols, channels]), False)

    def transform_kernel(self, kernel):
        """OIHW kernel [K, C, 3, 3] (graph value) -> U [36, C, K]."""
        ops = self.ops
        out_ch, in_ch = self._shape(kernel)[:2]
        flat = ops.matmul(ops.reshape(kernel, self._i64([out_ch * in_ch, 9]), False), self._kernel_matrix,
                          False, True)  # [K*C, 36]
        return ops.transpose(ops.reshape(flat, self._i64([out_ch, in_ch, ALPHA * ALPHA]), False), self._i64([2, 1, 0]))

    def transform_output(self, m, height, width):
        """M [36, P, K] -> map [height, width, K]: 4x4 outputs per tile, tiles back in place, cropped."""
        ops = self.ops
        _, _, out_ch = self._shape(m)
        rows, cols = -(-height // TILE), -(-width // TILE)
        y = ops.matmul(self._output_matrix, ops.reshape(m, self._i64([ALPHA * ALPHA, -1]), False),
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
        widths = [self._shape(x)[2] for x in maps]
        u = self.transform_kernel(kernel)
        parts = ops.variadic_split(u, self._i64([1]), self._i64(widths)).outputs() if len(maps) > 1 else [u]
        m = None
        for x, u_part in zip(maps, parts):
            part = ops.matmul(self._input(x), u_part, False, False)
            m = part if m is None else ops.add(m, part)
        y = self.transform_output(m, height, width)
        return ops.add(y, ops.reshape(bias, self._i64([1, 1, -1]), False))
