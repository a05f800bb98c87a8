"""Generate the reference fixtures for the detection building blocks.

Run:  /usr/bin/python3 tools/make_fixtures_detection.py [--out tests/data]
Needs PyTorch and torchvision (Debian: python3-torch, python3-torchvision).

Writes tests/data/detection_<family>.safetensors for the families anchors,
iou, box_coder, assign and nms (tools/make_fixtures_two_stage.py writes those of
the two-stage detector). The files are committed, so the tests never
need Python. As in the core fixtures, tensors of case i are named
"case<i>.<name>", metadata "case<i>" holds the case's parameters as compact
JSON and metadata "num_cases" the number of cases.

The references are ports of mmdetection v2 (mmdet/core/...) kept line for line
in float32, so that the C++ side can be compared bit for bit where it claims
to be (anchors) and within a few ulp elsewhere:
  anchors    AnchorGenerator.gen_single_level_base_anchors (scale_major=True,
             center_offset=0), single_level_grid_priors, valid_flags /
             single_level_valid_flags, and anchor/utils.py anchor_inside_flags
  iou        iou2d_calculator.bbox_overlaps (non-aligned, eps=1e-6); checked
             against torchvision.ops.box_iou where boxes have positive area
  box_coder  DeltaXYWHBBoxCoder bbox2delta / delta2bbox (wh_ratio_clip 16/1000,
             clip to max_shape)
  assign     MaxIoUAssigner.assign / assign_wrt_overlaps, then
             AnchorHead._get_targets_single with PseudoSampler, pos_weight -1
             and unmap (anchors outside inside_flags: label K, weight 0)
  nms        torchvision.ops.nms itself; the class-wise reference is
             torchvision.ops.nms run class by class, merged in (score desc,
             index asc) order, and checked here against
             torchvision.ops.batched_nms (same boxes kept; same order too
             where torchvision's own order is stable, up to 1000 boxes)

Per family (tensor names; params):
  anchors    base_anchors<l> [A,4], anchors<l> [H*W*A,4], valid_flags<l> u8
             [H*W*A] per level l, inside_flags u8 [T] (all levels concatenated);
             {"strides","ratios","octave_base_scale","scales_per_octave",
              "feature_sizes":[[h,w],...],"pad_shape":[h,w],"img_shape":[h,w],
              "allowed_border"}
  iou        boxes1 [N,4], boxes2 [M,4], iou [N,M], iof [N,M]; {}
  box_coder  anchors [N,4], gt [N,4], deltas [N,4] (encode(anchors, gt)),
             decode_anchors [N,4] (the anchors, some of zero size in one case),
             deltas_in [N,4], decoded [N,4] (decode(decode_anchors, deltas_in),
             no clip), decoded_clipped [N,4];
             {"means","stds","max_shape":[h,w]}
  assign     anchors [A,4], inside_flags u8 [A], gt_boxes [G,4], gt_labels i64
             [G], crowd_boxes [C,4]; outputs gt_index i64 [A] (g >= 0
             positive, -1 negative, -2 ignored or outside; mmdet's gt_inds - 1
             with -1 -> -2), max_iou [A] (0 outside), labels i64 [A],
             label_weights [A], bbox_targets [A,4], bbox_weights [A,4];
             {"pos_iou_thr","neg_iou_thr","min_pos_iou","gt_max_assign_all",
              "match_low_quality","ignore_iof_thr","num_classes"}
  nms        boxes [N,4], scores [N], class_ids i64 [N], keep i64 [K1]
             (nms), keep_batched i64 [K2] (batched_nms); {"iou_threshold"}

Everything is float32 on the CPU with one thread; each case is seeded from
its family name and index, so the files are identical from run to run.
"""

import os
import sys
import zlib

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import torchvision_main  # noqa: E402


def seed_case(family, index):
    torch.manual_seed(zlib.crc32(f"{family}/{index}".encode()))


# ---- mmdetection v2 ports ------------------------------------------------------------------------

def mmdet_scales(octave_base_scale, scales_per_octave):
    octave_scales = np.array([2**(i / scales_per_octave) for i in range(scales_per_octave)])
    return torch.Tensor(octave_scales * octave_base_scale)


def mmdet_base_anchors(base_size, scales, ratios):
    """AnchorGenerator.gen_single_level_base_anchors, scale_major=True, center_offset=0."""
    w = base_size
    h = base_size
    x_center = 0. * w
    y_center = 0. * h
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h * h_ratios[:, None] * scales[None, :]).view(-1)
    base_anchors = [x_center - 0.5 * ws, y_center - 0.5 * hs, x_center + 0.5 * ws, y_center + 0.5 * hs]
    return torch.stack(base_anchors, dim=-1)


def mmdet_meshgrid(x, y):
    xx = x.repeat(y.shape[0])
    yy = y.view(-1, 1).repeat(1, x.shape[0]).view(-1)
    return xx, yy


def mmdet_grid_priors(base_anchors, featmap_size, stride):
    """AnchorGenerator.single_level_grid_priors."""
    feat_h, feat_w = featmap_size
    shift_x = torch.arange(0, feat_w) * stride
    shift_y = torch.arange(0, feat_h) * stride
    shift_xx, shift_yy = mmdet_meshgrid(shift_x, shift_y)
    shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1).type_as(base_anchors)
    return (base_anchors[None, :, :] + shifts[:, None, :]).view(-1, 4)


def mmdet_valid_flags(featmap_size, pad_shape, stride, num_base_anchors):
    """AnchorGenerator.valid_flags for one level (+ single_level_valid_flags)."""
    feat_h, feat_w = featmap_size
    h, w = pad_shape[:2]
    valid_h = min(int(np.ceil(h / stride)), feat_h)
    valid_w = min(int(np.ceil(w / stride)), feat_w)
    valid_x = torch.zeros(feat_w, dtype=torch.bool)
    valid_y = torch.zeros(feat_h, dtype=torch.bool)
    valid_x[:valid_w] = 1
    valid_y[:valid_h] = 1
    valid_xx, valid_yy = mmdet_meshgrid(valid_x, valid_y)
    valid = valid_xx & valid_yy
    return valid[:, None].expand(valid.size(0), num_base_anchors).contiguous().view(-1)


def mmdet_anchor_inside_flags(flat_anchors, valid_flags, img_shape, allowed_border):
    img_h, img_w = img_shape[:2]
    if allowed_border >= 0:
        return valid_flags & \
            (flat_anchors[:, 0] >= -allowed_border) & \
            (flat_anchors[:, 1] >= -allowed_border) & \
            (flat_anchors[:, 2] < img_w + allowed_border) & \
            (flat_anchors[:, 3] < img_h + allowed_border)
    return valid_flags


def mmdet_multi_level(strides, ratios, octave_base_scale, scales_per_octave, feature_sizes, pad_shape):
    """Anchors and valid flags of all levels, concatenated (as AnchorHead.get_anchors)."""
    scales = mmdet_scales(octave_base_scale, scales_per_octave)
    ratios_t = torch.Tensor(ratios)
    anchors, flags, per_level = [], [], []
    for stride, size in zip(strides, feature_sizes):
        base = mmdet_base_anchors(stride, scales, ratios_t)
        grid = mmdet_grid_priors(base, size, stride)
        valid = mmdet_valid_flags(size, pad_shape, stride, base.size(0))
        per_level.append((base, grid, valid))
        anchors.append(grid)
        flags.append(valid)
    return torch.cat(anchors), torch.cat(flags), per_level


def mmdet_bbox_overlaps(bboxes1, bboxes2, mode="iou", eps=1e-6):
    """iou2d_calculator.bbox_overlaps, is_aligned=False, 2-D inputs."""
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if rows * cols == 0:
        return bboxes1.new_zeros((rows, cols))
    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    lt = torch.max(bboxes1[..., :, None, :2], bboxes2[..., None, :, :2])
    rb = torch.min(bboxes1[..., :, None, 2:], bboxes2[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    if mode == "iou":
        union = area1[..., None] + area2[..., None, :] - overlap
    else:
        union = area1[..., None]
    eps = union.new_tensor([eps])
    union = torch.max(union, eps)
    return overlap / union


def mmdet_bbox2delta(proposals, gt, means, stds):
    px = (proposals[..., 0] + proposals[..., 2]) * 0.5
    py = (proposals[..., 1] + proposals[..., 3]) * 0.5
    pw = proposals[..., 2] - proposals[..., 0]
    ph = proposals[..., 3] - proposals[..., 1]
    gx = (gt[..., 0] + gt[..., 2]) * 0.5
    gy = (gt[..., 1] + gt[..., 3]) * 0.5
    gw = gt[..., 2] - gt[..., 0]
    gh = gt[..., 3] - gt[..., 1]
    dx = (gx - px) / pw
    dy = (gy - py) / ph
    dw = torch.log(gw / pw)
    dh = torch.log(gh / ph)
    deltas = torch.stack([dx, dy, dw, dh], dim=-1)
    means = deltas.new_tensor(means).unsqueeze(0)
    stds = deltas.new_tensor(stds).unsqueeze(0)
    return deltas.sub_(means).div_(stds)


def mmdet_delta2bbox(rois, deltas, means, stds, max_shape=None, wh_ratio_clip=16 / 1000):
    if deltas.size(0) == 0:
        return deltas.clone()
    means = deltas.new_tensor(means).view(1, -1)
    stds = deltas.new_tensor(stds).view(1, -1)
    denorm_deltas = deltas * stds + means
    dxy = denorm_deltas[:, :2]
    dwh = denorm_deltas[:, 2:]
    pxy = ((rois[:, :2] + rois[:, 2:]) * 0.5)
    pwh = (rois[:, 2:] - rois[:, :2])
    dxy_wh = pwh * dxy
    max_ratio = np.abs(np.log(wh_ratio_clip))
    dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    x1y1 = gxy - (gwh * 0.5)
    x2y2 = gxy + (gwh * 0.5)
    bboxes = torch.cat([x1y1, x2y2], dim=-1)
    if max_shape is not None:
        bboxes[..., 0::2].clamp_(min=0, max=max_shape[1])
        bboxes[..., 1::2].clamp_(min=0, max=max_shape[0])
    return bboxes


def mmdet_assign(bboxes, gt_bboxes, gt_bboxes_ignore, p):
    """MaxIoUAssigner.assign + assign_wrt_overlaps; returns (gt_inds, max_overlaps) in mmdet's code."""
    overlaps = mmdet_bbox_overlaps(gt_bboxes, bboxes)
    if (p["ignore_iof_thr"] > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() > 0
            and bboxes.numel() > 0):
        ignore_overlaps = mmdet_bbox_overlaps(bboxes, gt_bboxes_ignore, mode="iof")
        ignore_max_overlaps, _ = ignore_overlaps.max(dim=1)
        overlaps[:, ignore_max_overlaps > p["ignore_iof_thr"]] = -1

    num_gts, num_bboxes = overlaps.size(0), overlaps.size(1)
    assigned_gt_inds = overlaps.new_full((num_bboxes, ), -1, dtype=torch.long)
    if num_gts == 0 or num_bboxes == 0:
        max_overlaps = overlaps.new_zeros((num_bboxes, ))
        if num_gts == 0:
            assigned_gt_inds[:] = 0
        return assigned_gt_inds, max_overlaps

    max_overlaps, argmax_overlaps = overlaps.max(dim=0)
    gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
    assigned_gt_inds[(max_overlaps >= 0) & (max_overlaps < p["neg_iou_thr"])] = 0
    pos_inds = max_overlaps >= p["pos_iou_thr"]
    assigned_gt_inds[pos_inds] = argmax_overlaps[pos_inds] + 1
    if p["match_low_quality"]:
        for i in range(num_gts):
            if gt_max_overlaps[i] >= p["min_pos_iou"]:
                if p["gt_max_assign_all"]:
                    max_iou_inds = overlaps[i, :] == gt_max_overlaps[i]
                    assigned_gt_inds[max_iou_inds] = i + 1
                else:
                    assigned_gt_inds[gt_argmax_overlaps[i]] = i + 1
    return assigned_gt_inds, max_overlaps


def mmdet_targets(flat_anchors, inside_flags, gt_bboxes, gt_labels, gt_bboxes_ignore, p):
    """AnchorHead._get_targets_single (PseudoSampler, pos_weight -1, unmap_outputs)."""
    num_classes = p["num_classes"]
    anchors = flat_anchors[inside_flags, :]
    gt_inds, max_overlaps = mmdet_assign(anchors, gt_bboxes, gt_bboxes_ignore, p)
    pos_inds = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(-1).unique()
    neg_inds = torch.nonzero(gt_inds == 0, as_tuple=False).squeeze(-1).unique()
    n = anchors.shape[0]
    bbox_targets = torch.zeros_like(anchors)
    bbox_weights = torch.zeros_like(anchors)
    labels = anchors.new_full((n, ), num_classes, dtype=torch.long)
    label_weights = anchors.new_zeros(n, dtype=torch.float)
    if len(pos_inds) > 0:
        pos_assigned = gt_inds[pos_inds] - 1
        bbox_targets[pos_inds, :] = mmdet_bbox2delta(anchors[pos_inds], gt_bboxes[pos_assigned], (0., 0., 0., 0.),
                                                     (1., 1., 1., 1.))
        bbox_weights[pos_inds, :] = 1.0
        labels[pos_inds] = gt_labels[pos_assigned]
        label_weights[pos_inds] = 1.0
    if len(neg_inds) > 0:
        label_weights[neg_inds] = 1.0

    def unmap(data, fill):
        ret = data.new_full((flat_anchors.size(0), ) + data.size()[1:], fill)
        ret[inside_flags] = data
        return ret

    # Our encoding of the assignment: g >= 0 positive, -1 negative, -2 ignored or outside.
    ours = torch.where(gt_inds > 0, gt_inds - 1, torch.where(gt_inds == 0, torch.full_like(gt_inds, -1),
                                                             torch.full_like(gt_inds, -2)))
    return {
        "gt_index": unmap(ours, -2),
        "max_iou": unmap(max_overlaps, 0.0),
        "labels": unmap(labels, num_classes),
        "label_weights": unmap(label_weights, 0.0),
        "bbox_targets": unmap(bbox_targets, 0.0),
        "bbox_weights": unmap(bbox_weights, 0.0),
    }


# ---- random boxes --------------------------------------------------------------------------------

def random_boxes(n, lo=0.0, hi=60.0, max_size=30.0):
    xy = torch.rand(n, 2) * (hi - lo) + lo
    wh = torch.rand(n, 2) * max_size + 0.5
    return torch.cat([xy, xy + wh], dim=1)


def integer_boxes(n, hi=60, max_size=30):
    xy = torch.randint(0, hi, (n, 2)).float()
    wh = torch.randint(1, max_size, (n, 2)).float()
    return torch.cat([xy, xy + wh], dim=1)


# ---- families ------------------------------------------------------------------------------------

RETINANET = {"strides": [8, 16, 32, 64, 128], "ratios": [0.5, 1.0, 2.0], "octave_base_scale": 4,
             "scales_per_octave": 3}


def anchors_case(config, feature_sizes, pad_shape, img_shape, allowed_border):
    def make():
        _, flags, per_level = mmdet_multi_level(config["strides"], config["ratios"], config["octave_base_scale"],
                                                config["scales_per_octave"], feature_sizes, pad_shape)
        flat = torch.cat([grid for _, grid, _ in per_level])
        tensors = {}
        for level, (base, grid, valid) in enumerate(per_level):
            tensors[f"base_anchors{level}"] = base
            tensors[f"anchors{level}"] = grid
            tensors[f"valid_flags{level}"] = valid.to(torch.uint8)
        tensors["inside_flags"] = mmdet_anchor_inside_flags(flat, flags, img_shape, allowed_border).to(torch.uint8)
        params = dict(config, feature_sizes=[list(s) for s in feature_sizes], pad_shape=list(pad_shape),
                      img_shape=list(img_shape), allowed_border=allowed_border)
        return params, tensors
    return make


ANCHOR_CASES = [
    # A batch padded to 128x160 around one image padded to 100x136 (97x130 before padding).
    anchors_case(RETINANET, [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)], (100, 136), (97, 130), 0),
    anchors_case(RETINANET, [(13, 17), (7, 9), (4, 5), (2, 3), (1, 2)], (100, 136), (97, 130), -1),
    # Another config: two levels, odd ratios, two scales per octave.
    anchors_case({"strides": [4, 8], "ratios": [0.25, 1.0, 3.0], "octave_base_scale": 2, "scales_per_octave": 2},
                 [(3, 5), (2, 3)], (10, 18), (9, 17), 2),
]


def iou_case(boxes1, boxes2):
    def make():
        b1, b2 = boxes1(), boxes2()
        iou = mmdet_bbox_overlaps(b1, b2, "iou")
        iof = mmdet_bbox_overlaps(b1, b2, "iof")
        if b1.numel() and b2.numel():
            area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
            area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
            ok = (area1[:, None] > 0) & (area2[None, :] > 0)
            tv = torchvision.ops.box_iou(b1, b2)
            assert torch.allclose(iou[ok], tv[ok], rtol=1e-6, atol=1e-7), "mmdet and torchvision IoU disagree"
        return {}, {"boxes1": b1, "boxes2": b2, "iou": iou, "iof": iof}
    return make


SPECIAL_BOXES = torch.tensor([
    [0., 0., 10., 10.],    # reference
    [0., 0., 10., 10.],    # identical
    [5., 5., 15., 15.],    # partial overlap
    [10., 0., 20., 10.],   # touches the reference's right edge
    [2., 2., 4., 4.],      # inside the reference
    [3., 3., 3., 3.],      # a point (zero size) inside the reference
    [0., 5., 10., 5.],     # a zero-height line across the reference
    [30., 30., 40., 45.],  # disjoint
    [-5., -5., 0.5, 0.5],  # negative coordinates
])

IOU_CASES = [
    iou_case(lambda: random_boxes(13), lambda: random_boxes(17)),
    iou_case(lambda: SPECIAL_BOXES.clone(), lambda: SPECIAL_BOXES.clone()),
    iou_case(lambda: random_boxes(0), lambda: random_boxes(5)),
    iou_case(lambda: random_boxes(4), lambda: random_boxes(0)),
    iou_case(lambda: integer_boxes(40, hi=30, max_size=12), lambda: integer_boxes(7, hi=30, max_size=12)),
]


def box_coder_case(n, means, stds, max_shape, zero_size_anchors=0):
    def make():
        flat, _, _ = mmdet_multi_level(RETINANET["strides"], RETINANET["ratios"], 4, 3,
                                       [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)], (64, 96))
        anchors = flat[torch.randint(0, flat.size(0), (n, ))]
        # gt near each anchor: centre moved by up to half the size, size scaled by 0.3..3.
        ctr = (anchors[:, :2] + anchors[:, 2:]) * 0.5
        wh = anchors[:, 2:] - anchors[:, :2]
        gctr = ctr + (torch.rand(n, 2) - 0.5) * wh
        gwh = wh * (0.3 + torch.rand(n, 2) * 2.7)
        gt = torch.cat([gctr - 0.5 * gwh, gctr + 0.5 * gwh], dim=1)
        deltas = mmdet_bbox2delta(anchors, gt, means, stds)
        deltas_in = torch.randn(n, 4) * 2.0  # |dw|, |dh| beyond log(1000/16) = 4.14 happen too
        if n >= 4:
            deltas_in[:4, 2:] = torch.tensor([[5.0, -6.0], [-4.2, 4.2], [9.0, 0.0], [0.0, -9.0]])
        decode_anchors = anchors.clone()
        decode_anchors[:zero_size_anchors, 2:] = decode_anchors[:zero_size_anchors, :2]
        decoded = mmdet_delta2bbox(decode_anchors, deltas_in, means, stds)
        clipped = mmdet_delta2bbox(decode_anchors, deltas_in, means, stds, max_shape=max_shape)
        params = {"means": list(means), "stds": list(stds), "max_shape": list(max_shape)}
        return params, {"anchors": anchors, "gt": gt, "deltas": deltas, "decode_anchors": decode_anchors,
                        "deltas_in": deltas_in, "decoded": decoded, "decoded_clipped": clipped}
    return make


BOX_CODER_CASES = [
    box_coder_case(64, (0., 0., 0., 0.), (1., 1., 1., 1.), (60, 90)),
    box_coder_case(33, (0.1, -0.05, 0.0, 0.2), (0.1, 0.1, 0.2, 0.2), (50, 70)),
    box_coder_case(9, (0., 0., 0., 0.), (1., 1., 1., 1.), (64, 96), zero_size_anchors=3),
    box_coder_case(0, (0., 0., 0., 0.), (1., 1., 1., 1.), (64, 96)),
]

ASSIGN_DEFAULTS = {"pos_iou_thr": 0.5, "neg_iou_thr": 0.4, "min_pos_iou": 0.0, "gt_max_assign_all": True,
                   "match_low_quality": True, "ignore_iof_thr": -1.0, "num_classes": 5}
SMALL_LEVELS = [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]  # a 64x96 batch


def assign_case(gt_boxes, crowd_boxes=None, feature_sizes=SMALL_LEVELS, pad_shape=(64, 96), img_shape=(64, 96),
                allowed_border=-1, **overrides):
    def make():
        p = dict(ASSIGN_DEFAULTS, **overrides)
        flat, flags, _ = mmdet_multi_level(RETINANET["strides"], RETINANET["ratios"], 4, 3, feature_sizes, pad_shape)
        inside = mmdet_anchor_inside_flags(flat, flags, img_shape, allowed_border)
        gt = gt_boxes()
        labels = torch.randint(0, p["num_classes"], (gt.size(0), ))
        crowd = crowd_boxes() if crowd_boxes is not None else torch.zeros(0, 4)
        out = mmdet_targets(flat, inside, gt, labels, crowd, p)
        tensors = {"anchors": flat, "inside_flags": inside.to(torch.uint8), "gt_boxes": gt, "gt_labels": labels,
                   "crowd_boxes": crowd}
        tensors.update(out)
        return p, tensors
    return make


def tie_boxes():
    # gt0 and gt2 identical (low-quality ties between gts: the later one wins); gt1 equal to one anchor
    # (stride-8 anchor, ratio 1, scale 4, at cell (3, 5)); gt3 centred between two cells so that anchors
    # of two cells reach its maximum IoU together; gt4, 12x12, lies inside several 32x32 anchors, which
    # all reach its maximum IoU 144/1024 (a low-quality match: all of them, or only the first).
    return torch.tensor([[10., 12., 40., 50.],
                         [40. - 16., 24. - 16., 40. + 16., 24. + 16.],
                         [10., 12., 40., 50.],
                         [52. - 16., 40. - 16., 52. + 16., 40. + 16.],
                         [38., 18., 50., 30.]])


ASSIGN_CASES = [
    assign_case(lambda: random_boxes(4, 0, 60, 40)),
    assign_case(tie_boxes),
    assign_case(lambda: random_boxes(3, 0, 60, 40), crowd_boxes=lambda: torch.tensor([[0., 0., 48., 40.],
                                                                                     [60., 30., 96., 64.]]),
                ignore_iof_thr=0.5),
    assign_case(lambda: torch.zeros(0, 4), crowd_boxes=lambda: torch.tensor([[0., 0., 48., 40.]]),
                ignore_iof_thr=0.5),
    assign_case(lambda: torch.zeros(0, 4)),
    # Batch padded to 96x128; this image is 60x90 (padded 64x96): outside cells and border anchors.
    assign_case(lambda: random_boxes(5, 0, 50, 40), feature_sizes=[(12, 16), (6, 8), (3, 4), (2, 2), (1, 1)],
                pad_shape=(64, 96), img_shape=(60, 90), allowed_border=0),
    assign_case(tie_boxes, gt_max_assign_all=False),
    assign_case(lambda: random_boxes(4, 0, 60, 40), match_low_quality=False),
    # Tiny boxes: matched only by the low-quality rule, with IoU far below 0.4.
    assign_case(lambda: torch.tensor([[20., 20., 23., 22.], [50., 10., 51.5, 14.]])),
    # Crowd boxes given but ignore_iof_thr -1: not used.
    assign_case(lambda: random_boxes(3, 0, 60, 40), crowd_boxes=lambda: torch.tensor([[0., 0., 48., 40.]])),
    # min_pos_iou 0.3 keeps a tiny box from claiming anything.
    assign_case(lambda: torch.tensor([[20., 20., 23., 22.], [10., 12., 40., 50.]]), min_pos_iou=0.3),
]


def nms_case(n, iou_threshold, num_classes=3, make_boxes=None, score_levels=10):
    def make():
        if make_boxes is not None:
            boxes, scores, classes = make_boxes()
        else:
            centres = torch.rand(max(n // 6, 1), 2) * 80
            pick = torch.randint(0, centres.size(0), (n, ))
            ctr = centres[pick] + torch.randn(n, 2) * 3
            wh = 8 + torch.rand(n, 2) * 16
            boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1)
            scores = torch.randint(0, score_levels, (n, )).float() / score_levels  # many ties
            classes = torch.randint(0, num_classes, (n, ))
        keep = torchvision.ops.nms(boxes, scores, iou_threshold)
        # Class-wise: torchvision nms per class, merged in (score desc, index asc) order.
        merged = []
        for c in classes.unique().tolist():
            idx = torch.nonzero(classes == c).squeeze(-1)
            merged += idx[torchvision.ops.nms(boxes[idx], scores[idx], iou_threshold)].tolist()
        merged.sort(key=lambda i: (-scores[i].item(), i))
        # torchvision.ops.batched_nms keeps the same boxes. Up to 1000 boxes (4000 coordinates) it
        # runs one nms on class-shifted boxes, whose order is the same stable score order; beyond, it
        # runs nms per class and re-sorts with an unstable sort, so only the set is compared there.
        tv = torchvision.ops.batched_nms(boxes, scores, classes, iou_threshold).tolist()
        assert sorted(tv) == sorted(merged), "batched_nms keeps other boxes than class-wise nms"
        if boxes.numel() <= 4000:
            assert tv == merged, "batched_nms order differs from class-wise nms"
        keep_batched = torch.tensor(merged, dtype=torch.long)
        return {"iou_threshold": iou_threshold}, {"boxes": boxes, "scores": scores, "class_ids": classes,
                                                  "keep": keep, "keep_batched": keep_batched}
    return make


def special_nms():
    boxes = torch.tensor([
        [0., 0., 10., 10.], [0., 0., 10., 10.], [0., 0., 10., 10.],  # identical, equal scores
        [0., 0., 10., 5.],                                             # IoU exactly 0.5 with box 0
        [3., 3., 3., 3.], [3., 3., 3., 3.],                            # zero size: 0/0, never suppressed
        [20., 20., 30., 30.], [21., 21., 31., 31.],                    # IoU 0.68
        [50., 50., 50., 60.],                                          # zero width
    ])
    scores = torch.tensor([0.9, 0.9, 0.9, 0.95, 0.5, 0.5, 0.7, 0.7, 0.1])
    classes = torch.tensor([0, 1, 0, 0, 2, 2, 1, 1, 0])
    return boxes, scores, classes


NMS_CASES = [
    nms_case(200, 0.5),
    nms_case(200, 0.3),
    nms_case(200, 0.7, num_classes=1),
    nms_case(0, 0.5, make_boxes=special_nms),
    nms_case(0, 0.5, make_boxes=lambda: (torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))),
    nms_case(0, 0.5, make_boxes=lambda: (torch.tensor([[1., 2., 3., 4.]]), torch.tensor([0.3]),
                                         torch.tensor([7]))),
    nms_case(3000, 0.5, num_classes=80, score_levels=1000),
    nms_case(0, 0.3, make_boxes=special_nms),
]

FAMILIES = {
    "anchors": ANCHOR_CASES,
    "iou": IOU_CASES,
    "box_coder": BOX_CODER_CASES,
    "assign": ASSIGN_CASES,
    "nms": NMS_CASES,
}


if __name__ == "__main__":
    torchvision_main(__doc__.splitlines()[0], "detection", FAMILIES, seed_case)
