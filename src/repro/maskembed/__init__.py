"""Locality alignment (MaskEmbed) for vision transformers.

The paper: ``workflow/papers.yaml``, ``papers.maskembed.title`` (ICLR 2025, arXiv 2410.11087).

End-to-end tier at tiny scale: synthetic scenes (``scenes``), a small ViT trained with image-level supervision only
(``vit``, ``pretrain``), MaskEmbed post-training (``maskembed``), the patch-level segmentation probe (``probes``)
and a spatial-reasoning VLM stand-in (``spatial``); the workflow steps are in ``steps``.
"""
