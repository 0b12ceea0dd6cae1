"""Heads: layers on top of the task logits, composed into any model by its `heads=` argument.

A routing head (`GroupRouting`) picks each sample's towers; logit heads
(`BiasLogit`, `GraphScore`) add to the logits; an output head (`OutputHead`:
`LatentEmotionMixture`, `EntireSpaceProduct`) turns them into predictions.
"""
