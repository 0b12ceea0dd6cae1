"""Taobao UserBehavior (Tianchi 649), the raw four-behaviour log: `load_taobao_user_behavior`."""

from zoo.data.sources.taobao_user_behavior.loader import load_taobao_user_behavior

__all__ = ["load_taobao_user_behavior"]
