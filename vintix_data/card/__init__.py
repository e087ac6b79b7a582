"""What a reader of a dataset folder sees: the card (``README.md``) and the learning-curve plot.

dataset_card.py  README.md from the template ``vintix_data.cards/dataset_card.md`` (the top-level cards/), and
                 card_template(), which finds any card template (the model card's too)
plots.py         plots/learning_curve.png and the per-history episode table both use
"""

from vintix_data.card.dataset_card import card_template, size_category, template_path, write_card

__all__ = ["card_template", "size_category", "template_path", "write_card"]
